"""The bundled problem files (see NOTICE); a package only so that installs carry them."""
