"""The Reports API streams: the stream, requesting reports, their windows and
their documents."""
