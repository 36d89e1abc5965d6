namespace NodeKeeper.Core.Config;

/// <summary>
/// The built-in value of each [[app]] key that has one, in one place: <see cref="AppSpec"/> starts from them, the
/// loader falls back on them when neither the app nor [defaults] sets the key, and nk import quotes them in its notes.
/// </summary>
public static class AppDefaults
{
    public const string Interpreter = "node";
    public const int Instances = 1;
    public const PortMode PortMode = Config.PortMode.Shared;
    public static readonly TimeSpan ListenTimeout = TimeSpan.FromSeconds(10);
    public const NotReadyAction NotReady = NotReadyAction.Kill;
    public const RestartMode Restart = RestartMode.Always;
    public static readonly IReadOnlyList<int> StopExitCodes = [0];
    public static readonly TimeSpan MinUptime = TimeSpan.FromSeconds(2);
    public const int MaxRestarts = 10;
    public static readonly TimeSpan RestartDelay = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan MaxRestartDelay = TimeSpan.FromSeconds(15);
    public const string KillSignal = "SIGTERM";
    public static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Longer than Node's default keepAliveTimeout (5s), so that an idle keep-alive connection is closed by the app's
    /// own timer or by its next response, never under a request.
    /// </summary>
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    public const long LogMaxSize = 10 * 1024 * 1024;
    public const int LogKeep = 5;
    public const bool LogTimestamps = false;

    /// <summary>How long a watched app's files must stay quiet after a change before it restarts (no key sets it).</summary>
    public static readonly TimeSpan WatchQuiet = TimeSpan.FromMilliseconds(300);

    public static readonly TimeSpan HealthInterval = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan HealthTimeout = TimeSpan.FromSeconds(2);
    public const int HealthFailures = 3;

    /// <summary>An app with a port is online once it listens; one without, once it is spawned.</summary>
    public static ReadyMode Ready(bool hasPort) => hasPort ? ReadyMode.Listen : ReadyMode.Spawn;
}
