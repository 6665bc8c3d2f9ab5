"""Writes a generated table into a markdown document between its two marker comments, or
appends it under a heading when the document has no such section yet (the bench scripts'
--doc option)."""


def write_section(doc, begin, end, heading, table):
    """`table` starts with `begin` and ends with `end`."""
    with open(doc) as f:
        text = f.read()
    if begin in text:
        text = text[:text.index(begin)] + table + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n" + table + "\n"
    with open(doc, "w") as f:
        f.write(text)
