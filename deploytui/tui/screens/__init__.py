"""Screens and dialogs of the deploytui app."""
