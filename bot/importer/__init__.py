"""Import: an article (plain text, Markdown, HTML, or a web page) as a draft knowledge file
for a person to review. Parsing and drafting are pure; only `source` reads files and URLs."""
