"""The web edge: live calls board, JSON API, websocket feed, health and metrics."""
