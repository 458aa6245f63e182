"""citechat as an MCP server, for AI assistants and editors: cited search and answers over the same service as
the other surfaces.

- `tools.py`: what the tools do (search, ask, list_documents, read_document) and their results;
- `server.py`: the MCP server, with the tools described for a model that must choose between them;
- `stdio.py`: `citechat mcp`, the server over stdin and stdout for one assistant;
- `http_app.py`: the server over streamable HTTP at /mcp of `citechat serve`, behind its guards and key.
"""
