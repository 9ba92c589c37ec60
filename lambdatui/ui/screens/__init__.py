"""Screens: the main debugger screen and the modal dialogs it opens."""
