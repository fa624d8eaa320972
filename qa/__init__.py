"""qa: grounded, cited question answering over a folder of documents."""
