from labelclean.cli import main

main()
