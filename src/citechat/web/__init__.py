"""The web surfaces, one module per concern, all over one service (which the MCP server, `mcp_server/`, calls
too):

- `service.py`: answer, stream, search, uploads, removal, sync (no web framework);
- `render.py`: the chat window's HTML and Markdown (pure functions);
- `chat_window.py`: the chat window's event handlers, and its `/ask` endpoint;
- `gradio_app.py`: the chat window's layout, wired to those handlers and mounted on the app;
- `style.py`: the chat window's theme and CSS;
- `openai_api.py`: the OpenAI-compatible API under /v1;
- `security.py`: the loopback rule, the names served, sign-in and API key;
- `guards.py`: the checks every request passes (Host, Origin, body size, sign-in throttle);
- `connections.py`: deadlines for request heads and a cap on connections, below the file limit;
- `upload_folder.py`: Gradio's upload folder, private to the server and emptied as uploads are saved;
- `watch.py`: syncing at start and when the documents folder changes;
- `server.py`: the one FastAPI app on one port (the chat window, /v1 and /mcp), and `launch`.
"""
