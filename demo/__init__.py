"""`make demo`: the product on embedded defaults, narrated in the terminal."""
