"""House style, report content, rendering and the quarterly build."""
