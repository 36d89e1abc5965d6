namespace NodeKeeper.Daemon.Logs;

/// <summary>How an instance's lines are decorated: an optional prefix (e.g. "[1] " when an app has several instances) and an optional UTC timestamp.</summary>
public sealed record LineFormat(string? Prefix, bool Timestamps);
