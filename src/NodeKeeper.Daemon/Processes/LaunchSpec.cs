namespace NodeKeeper.Daemon.Processes;

/// <summary>Everything needed to start one instance's process. InheritedFd (a shared listening socket) is passed as is.</summary>
public sealed record LaunchSpec(
    string FileName,
    IReadOnlyList<string> Arguments,
    string WorkingDirectory,
    IReadOnlyDictionary<string, string?> Environment,
    Func<Stream, CancellationToken, Task> Stdout,
    Func<Stream, CancellationToken, Task> Stderr,
    bool WithIpcChannel,
    int? InheritedFd = null);
