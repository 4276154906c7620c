"""train/css"""
