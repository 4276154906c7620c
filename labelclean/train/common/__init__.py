"""train/common"""
