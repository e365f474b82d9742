"""Static assets of the sandbox web page (data files, served by web.py)."""
