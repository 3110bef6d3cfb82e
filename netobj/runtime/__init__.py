"""The site's runtime parts, each with one job (see each module's docstring)."""
