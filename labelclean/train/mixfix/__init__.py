"""train/mixfix"""
