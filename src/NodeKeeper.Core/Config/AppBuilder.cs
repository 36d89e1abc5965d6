namespace NodeKeeper.Core.Config;

/// <summary>
/// Turns one [[app]] plus [defaults] into an <see cref="AppSpec"/>: a key the app sets wins, else the
/// [defaults] value, else the built-in default. Then the checks that span keys (required keys,
/// ready = "listen" needs a port, max_restart_delay &gt;= restart_delay) and path resolution.
/// </summary>
internal sealed class AppBuilder(ConfigErrors errors, string configDirectory, LoadContext ctx)
{
    public AppSpec? Build(RawApp app, RawApp? defaults)
    {
        Set<T>? Pick<T>(Func<RawApp, Set<T>?> field) => field(app) ?? (defaults is null ? null : field(defaults));
        bool IsBad(string key) => app.Bad.Contains(key) || (!app.Present.Contains(key) && defaults?.Bad.Contains(key) == true);
        bool FromDefaults(string key) => !app.Present.Contains(key);

        var name = app.Name?.Value;
        var appLabel = name is null ? "[[app]]" : $"app {Text.Quote(name)}";
        if (name is null && !IsBad("name"))
            errors.Add(app.TablePos, "[[app]] is missing required key \"name\"");
        var script = Pick(a => a.Script);
        if (script is null && !IsBad("script"))
            errors.Add(app.TablePos, $"{appLabel} is missing required key \"script\"");

        var interpreter = Pick(a => a.Interpreter)?.Value ?? AppDefaults.Interpreter;
        var program = Programs.Of(interpreter);
        var node = program == ProgramKind.Node;
        if (node && app.InterpreterArgs is { } interpreterArgs)
            errors.Add(interpreterArgs.Pos, $"interpreter_args is for programs other than node, and {appLabel} runs node: give node's arguments in node_args");
        if (!node) NodeOnly(app, appLabel, interpreter);

        var port = Pick(a => a.Port);
        // [defaults] that only node has are not applied to other programs (an app that sets one itself is told above).
        var ready = Pick(a => a.Ready) is { Value: ReadyMode.Message } && !node ? null : Pick(a => a.Ready);
        var portMode = node ? Pick(a => a.PortMode)?.Value ?? AppDefaults.PortMode : PortMode.Increment;
        if (ready?.Value == ReadyMode.Listen && port is null && !IsBad("port"))
        {
            var whose = FromDefaults("ready") ? $" ({appLabel} sets none)" : "";
            errors.Add(ready.Pos, $"ready = \"listen\" needs a port{whose}: set port, or use ready = \"message\" or \"spawn\"");
        }

        if (ready?.Value == ReadyMode.Health) HealthReady(ready.Pos, FromDefaults("ready") ? $" ({appLabel} sets none)" : "");
        void HealthReady(Pos at, string whose)
        {
            var health = Pick(a => a.Health);
            if (health is null)
            {
                if (!IsBad("health"))
                    errors.Add(at, $"ready = \"health\" needs health.url{whose}: add health = {{ url = \"http://127.0.0.1:PORT/health\" }} on the app's port");
            }
            else if (port is null)
            {
                if (!IsBad("port")) errors.Add(at, $"ready = \"health\" needs a port{whose}: each instance's health.url is probed on its own port");
            }
            else if (portMode == PortMode.Shared)
                errors.Add(at, $"ready = \"health\" probes each instance on its own port, and {appLabel} shares its port (port_mode = \"shared\", node's default): set port_mode = \"increment\", or use ready = \"listen\" or \"message\"");
            else if (!Supervision.HealthRule.OnEachInstance(portMode, port.Value, health.Value.Url))
                errors.Add(at, $"ready = \"health\" probes health.url on each instance's own port, and health.url ({health.Value.Url}) is not on {appLabel}'s port {port.Value}: put it on port {port.Value}");
        }

        // In increment mode instance i listens on port + i: every one of those must be a port.
        var instances = Pick(a => a.Instances);
        if (portMode == PortMode.Increment && port is not null && instances is not null
            && port.Value + instances.Value - 1 > 65535)
        {
            errors.Add(port.Pos, $"port_mode = \"increment\" gives instance {instances.Value - 1} of {appLabel} port {port.Value + instances.Value - 1}, beyond 65535: lower port or instances");
        }

        var restartDelay = Pick(a => a.RestartDelay);
        var maxRestartDelay = Pick(a => a.MaxRestartDelay);
        var delay = restartDelay?.Value ?? AppDefaults.RestartDelay;
        var maxDelay = maxRestartDelay?.Value ?? AppDefaults.MaxRestartDelay;
        if (maxDelay < delay && !IsBad("restart_delay") && !IsBad("max_restart_delay"))
        {
            if (maxRestartDelay is not null)
                errors.Add(maxRestartDelay.Pos, $"max_restart_delay must be at least restart_delay (\"{Duration.Format(delay)}\"), got \"{Duration.Format(maxDelay)}\"");
            else
                errors.Add(restartDelay!.Pos, $"restart_delay must not exceed max_restart_delay (\"{Duration.Format(maxDelay)}\" by default), got \"{Duration.Format(delay)}\"");
        }

        // A `user` app never gets the daemon's environment (root's secrets): saying otherwise is a mistake to point out.
        if (Pick(a => a.User) is not null && Pick(a => a.CleanEnv) is { Value: false } dirty)
            errors.Add(dirty.Pos, $"clean_env = false cannot be given to {appLabel}, which sets user: a user app always starts from a clean environment (remove clean_env)");

        // A canary runs beside the old instances: in increment mode it would need the port instance 0 holds.
        if (Pick(a => a.Reload) is { Value.Canary: var canary } reload && canary > TimeSpan.Zero
            && portMode == PortMode.Increment && port is not null)
            errors.Add(reload.Pos, $"reload.canary needs port_mode = \"shared\" for {appLabel}: in increment mode the canary would need the port of instance 0 (set canary = \"0s\" or use shared mode)");

        if (name is null || script is null) return null;

        var cwd = Pick(a => a.Cwd)?.Value ?? ConfigPaths.Resolve(configDirectory, ".");
        var log = Pick(a => a.Log)?.Value;
        var watch = Pick(a => a.Watch);
        // A program (interpreter = "none") named without a folder is looked up on PATH at start, as a shell does.
        var scriptPath = program == ProgramKind.Executable && !script.Value.Contains('/') ? script.Value : ConfigPaths.Resolve(cwd, script.Value);
        if (ValueReader.PathTooLong("script", scriptPath) is { } tooLong) errors.Add(script.Pos, tooLong);
        IReadOnlyList<string> watched = watch?.Value switch
        {
            null or { Enabled: false } => [],
            { Paths: null } => [cwd],
            { Paths: { } paths } => paths.Select(p => ConfigPaths.Resolve(cwd, p)).ToArray(),
        };
        foreach (var path in watched)
        {
            if (ValueReader.PathTooLong("watch", path) is { } watchTooLong)
            {
                errors.Add(watch!.Pos, watchTooLong);
                break;
            }
        }
        return new AppSpec
        {
            Name = name,
            Script = scriptPath,
            Cwd = cwd,
            Args = Pick(a => a.Args)?.Value ?? [],
            NodeArgs = node ? Pick(a => a.NodeArgs)?.Value ?? [] : [],
            Interpreter = interpreter,
            InterpreterArgs = program == ProgramKind.Interpreter ? Pick(a => a.InterpreterArgs)?.Value ?? [] : [],
            MaxOldSpaceSizeMb = node ? Pick(a => a.MaxOldSpaceSizeMb)?.Value : null,
            Env = Pick(a => a.Env)?.Value ?? new Dictionary<string, string>(),
            EnvProfiles = EnvProfiles.Merge(defaults?.EnvProfiles, app.EnvProfiles),
            EnvFile = Pick(a => a.EnvFile)?.Value,
            EnvFromFile = (app.EnvFile is not null ? app.EnvFromFile : defaults?.EnvFromFile) ?? new Dictionary<string, string>(),
            Instances = instances?.Value ?? AppDefaults.Instances,
            Port = port?.Value,
            PortMode = portMode,
            Ready = ready?.Value ?? AppDefaults.Ready(hasPort: port is not null),
            ListenTimeout = Pick(a => a.ListenTimeout)?.Value ?? AppDefaults.ListenTimeout,
            NotReady = Pick(a => a.NotReady)?.Value ?? AppDefaults.NotReady,
            Restart = Pick(a => a.Restart)?.Value ?? AppDefaults.Restart,
            StopExitCodes = Pick(a => a.StopExitCodes)?.Value ?? AppDefaults.StopExitCodes,
            MinUptime = Pick(a => a.MinUptime)?.Value ?? AppDefaults.MinUptime,
            MaxRestarts = Pick(a => a.MaxRestarts)?.Value ?? AppDefaults.MaxRestarts,
            RestartDelay = delay,
            MaxRestartDelay = maxDelay,
            FixedRestartDelay = Pick(a => a.FixedRestartDelay)?.Value ?? TimeSpan.Zero,
            CronRestart = Pick(a => a.CronRestart)?.Value,
            KillSignal = Pick(a => a.KillSignal)?.Value ?? AppDefaults.KillSignal,
            KillTimeout = Pick(a => a.KillTimeout)?.Value ?? AppDefaults.KillTimeout,
            DrainTimeout = Pick(a => a.DrainTimeout)?.Value ?? AppDefaults.DrainTimeout,
            MaxMemory = Pick(a => a.MaxMemory)?.Value,
            MaxOpenFiles = Pick(a => a.MaxOpenFiles)?.Value,
            Health = node ? Pick(a => a.Health)?.Value : Pick(a => a.Health)?.Value is { } health ? health with { MaxLag = null } : null,
            Watch = watched,
            IgnoreWatch = Pick(a => a.IgnoreWatch)?.Value ?? [],
            User = Pick(a => a.User)?.Value,
            CleanEnv = Pick(a => a.CleanEnv)?.Value ?? false,
            HttpMetrics = node && (Pick(a => a.HttpMetrics)?.Value ?? true),
            Reload = Pick(a => a.Reload)?.Value ?? ReloadSpec.Default,
            Capture = (node ? Pick(a => a.Capture)?.Value : null) ?? CaptureSpec.Default,
            Host = Pick(a => a.Host)?.Value,
            Log = new LogSpec(
                log?.Out ?? Path.Combine(ctx.LogDirectory, name + ".out.log"),
                log?.Err ?? Path.Combine(ctx.LogDirectory, name + ".err.log"),
                log?.MaxSize ?? AppDefaults.LogMaxSize,
                log?.Keep ?? AppDefaults.LogKeep,
                log?.Timestamps ?? AppDefaults.LogTimestamps,
                log?.Format ?? LogFormat.Text),
        };
    }

    /// <summary>The keys an app that is not node sets itself but only node can honour: each is an error saying what to use.</summary>
    private void NodeOnly(RawApp app, string appLabel, string interpreter)
    {
        var runs = $"{appLabel} {Programs.Runs(interpreter)}";
        var executable = Programs.Of(interpreter) == ProgramKind.Executable;
        if (app.NodeArgs is { } nodeArgs)
            errors.Add(nodeArgs.Pos, executable
                ? $"node_args is for node, and {runs}: put its arguments in args"
                : $"node_args is for node, and {runs}: give that interpreter's arguments in interpreter_args");
        if (executable && app.InterpreterArgs is { } interpreterArgs)
            errors.Add(interpreterArgs.Pos, $"interpreter_args has no interpreter to go to: {runs}; put its arguments in args");
        if (app.MaxOldSpaceSizeMb is { } heap)
            errors.Add(heap.Pos, $"max_old_space_size is node's heap flag, and {runs}: remove it (max_memory limits any program)");
        if (app.Ready is { Value: ReadyMode.Message } ready)
            errors.Add(ready.Pos, $"ready = \"message\" needs node's IPC channel (process.send), and {runs}: use ready = \"listen\" or \"health\" with a port, or \"spawn\"");
        if (app.PortMode is { Value: PortMode.Shared } shared)
            errors.Add(shared.Pos, $"port_mode = \"shared\" needs node (its preload accepts on the daemon's socket), and {runs}: use port_mode = \"increment\" (instance i gets PORT = port + i and listens itself)");
        if (app.Capture is { } capture)
            errors.Add(capture.Pos, $"capture needs node (its preload takes the profiles and snapshots), and {runs}: remove it");
        if (app.HttpMetrics is { Value: true } metrics)
            errors.Add(metrics.Pos, $"http_metrics needs node (its preload counts the responses), and {runs}: remove it");
        if (app.Health is { Value.MaxLag: not null } health)
            errors.Add(health.Pos, $"health.max_lag needs node's event loop, and {runs}: remove max_lag (url still checks the app)");
    }
}
