"""The Textual debugger: renders snapshots and facts, sends controller commands; never imports trio."""
