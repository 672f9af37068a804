"""The studies that measured what the book shows: each writes the shipped results in
`bertmlm_lib/experiments/measured/` that `bertmlm_lib.experiments` reads and draws for the lessons."""
