"""Report helpers: inline SVG plots, embedded thumbnails and the template context."""
