namespace NodeKeeper.Core.Config;

/// <summary>A value read from the config and where it was written.</summary>
internal sealed record Set<T>(T Value, Pos Pos);

/// <summary>watch as written: true/false, or paths still relative to the app's cwd.</summary>
internal sealed record WatchSetting(bool Enabled, IReadOnlyList<string>? Paths);

/// <summary>The log table as written: absolute paths when set, and the rotation settings.</summary>
internal sealed record LogSetting(string? Out, string? Err, long MaxSize, int Keep, bool Timestamps, LogFormat Format = LogFormat.Text);

/// <summary>
/// The keys of one [[app]] or of [defaults], each validated on its own and still unset when absent
/// or invalid. Merging with defaults and checks across keys happen in <see cref="AppBuilder"/>.
/// </summary>
internal sealed class RawApp
{
    public required Pos TablePos { get; init; }
    /// <summary>Keys written in the table, valid or not.</summary>
    public HashSet<string> Present { get; } = new(StringComparer.Ordinal);
    /// <summary>Keys whose value gave an error.</summary>
    public HashSet<string> Bad { get; } = new(StringComparer.Ordinal);

    public Set<string>? Name { get; set; }
    /// <summary>As written: resolved against the app's cwd once that is known.</summary>
    public Set<string>? Script { get; set; }
    public Set<string>? Cwd { get; set; }
    public Set<List<string>>? Args { get; set; }
    public Set<List<string>>? NodeArgs { get; set; }
    public Set<string>? Interpreter { get; set; }
    public Set<List<string>>? InterpreterArgs { get; set; }
    public Set<int>? MaxOldSpaceSizeMb { get; set; }
    public Set<Dictionary<string, string>>? Env { get; set; }
    /// <summary>The env_NAME tables, by NAME.</summary>
    public Dictionary<string, Dictionary<string, string>> EnvProfiles { get; } = new(StringComparer.Ordinal);
    public Set<string>? EnvFile { get; set; }
    public IReadOnlyDictionary<string, string>? EnvFromFile { get; set; }
    public Set<int>? Instances { get; set; }
    public Set<int>? Port { get; set; }
    public Set<PortMode>? PortMode { get; set; }
    public Set<ReadyMode>? Ready { get; set; }
    public Set<TimeSpan>? ListenTimeout { get; set; }
    public Set<NotReadyAction>? NotReady { get; set; }
    public Set<RestartMode>? Restart { get; set; }
    public Set<List<int>>? StopExitCodes { get; set; }
    public Set<TimeSpan>? MinUptime { get; set; }
    public Set<int>? MaxRestarts { get; set; }
    public Set<TimeSpan>? RestartDelay { get; set; }
    public Set<TimeSpan>? MaxRestartDelay { get; set; }
    public Set<TimeSpan>? FixedRestartDelay { get; set; }
    public Set<string>? CronRestart { get; set; }
    public Set<string>? KillSignal { get; set; }
    public Set<TimeSpan>? KillTimeout { get; set; }
    public Set<TimeSpan>? DrainTimeout { get; set; }
    public Set<long>? MaxMemory { get; set; }
    public Set<int>? MaxOpenFiles { get; set; }
    public Set<HealthSpec>? Health { get; set; }
    public Set<WatchSetting>? Watch { get; set; }
    public Set<List<string>>? IgnoreWatch { get; set; }
    public Set<string>? User { get; set; }
    public Set<bool>? CleanEnv { get; set; }
    public Set<bool>? HttpMetrics { get; set; }
    public Set<ReloadSpec>? Reload { get; set; }
    public Set<CaptureSpec>? Capture { get; set; }
    public Set<string>? Host { get; set; }
    public Set<LogSetting>? Log { get; set; }
}
