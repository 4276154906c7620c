"""train/deft"""
