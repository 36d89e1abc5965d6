namespace NodeKeeper.Daemon.Logs;

/// <summary>How an instance's lines are decorated: an optional prefix (e.g. "[1] " when an app has several instances) and an optional UTC timestamp;
/// or, with <paramref name="Json"/>, each line as one JSON object.</summary>
public sealed record LineFormat(string? Prefix, bool Timestamps, JsonLines? Json = null);

/// <summary>
/// log.format = "json": each line becomes {"message", "timestamp", "type", "process_id", "app_name"}, the fields and
/// names of PM2's log_type: 'json', so a log shipper set up for PM2 reads it as it is. The message is the line without
/// its newline; bytes that are not UTF-8 become U+FFFD.
/// </summary>
/// <param name="Type">"out" or "err".</param>
public sealed record JsonLines(string App, int Instance, string Type);
