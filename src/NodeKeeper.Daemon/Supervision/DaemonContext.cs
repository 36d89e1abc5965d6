using Microsoft.Extensions.Logging;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>What every part of the daemon shares: its home, the preload's path, the clock, the log.</summary>
public sealed class DaemonContext(string home, TimeProvider clock, ILogger logger)
{
    public string Home { get; } = home;
    public string LogDirectory => Path.Combine(Home, "logs");
    public string PreloadPath => Path.Combine(Home, "preload.js");
    public string SocketPath => Path.Combine(Home, "nk.sock");
    public string PidPath => Path.Combine(Home, "nk.pid");
    public string LockPath => Path.Combine(Home, "nk.lock");
    public TimeProvider Clock { get; } = clock;
    public ILogger Logger { get; } = logger;

    /// <summary>Raised after any instance changed state.</summary>
    public event Action? Changed;

    public void StateChanged() => Changed?.Invoke();
}
