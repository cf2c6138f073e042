"""Reading recordings back: replay, rescoring, failure attribution, `show`, exports and the report."""
