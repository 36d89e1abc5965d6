namespace NodeKeeper.Core.Config;

/// <summary>Reads the keys of one [[app]] table, or of [defaults], into a <see cref="RawApp"/>.</summary>
internal sealed class AppReader(ValueReader values, string displayPath, string configDirectory, LoadContext ctx)
{
    /// <summary>Every key an [[app]] may set, in SPEC order.</summary>
    public static readonly string[] Keys =
    [
        "name", "script", "cwd", "args", "node_args", "interpreter", "interpreter_args", "max_old_space_size", "env", "env_file",
        "instances", "port", "port_mode", "ready", "listen_timeout", "not_ready", "restart", "stop_exit_codes", "min_uptime",
        "max_restarts", "restart_delay", "max_restart_delay", "fixed_restart_delay", "cron_restart", "kill_signal", "kill_timeout", "drain_timeout", "max_memory",
        "max_open_files", "health", "watch", "ignore_watch", "user", "clean_env", "log", "host", "http_metrics", "reload",
        "capture",
    ];

    private static readonly string[] DefaultsKeys = Keys.Where(k => k != "name").ToArray();
    private static readonly string[] HealthKeys = ["url", "interval", "timeout", "failures", "max_lag"];
    private static readonly string[] ReloadKeys = ["canary", "watch", "min_failed", "max_failed_increase"];
    private static readonly string[] CaptureKeys = ["stall", "cpu", "interval", "heap", "heap_gap", "max_heap", "keep", "max_size", "reports", "watchdog"];
    private static readonly string[] LogKeys = ["out", "err", "max_size", "keep", "timestamps", "format"];
    private const long MiB = 1024 * 1024;

    public RawApp Read(TTable table, bool isDefaults)
    {
        var app = new RawApp { TablePos = table.Pos };
        var where = isDefaults ? "in [defaults]" : "in [[app]]";
        foreach (var entry in table.Entries)
        {
            if (isDefaults && entry.Key == "name")
            {
                values.UnknownKey(entry, where, DefaultsKeys, "each [[app]] sets its own name");
                continue;
            }
            // env_NAME is a profile, unless it is a misspelt env_file (told as an unknown key below).
            if (EnvProfiles.NameOf(entry.Key) is { } profile && KeySuggester.Suggest(entry.Key, Keys) is not "env_file")
            {
                if (ReadEnv(entry) is { } profileEnv) app.EnvProfiles[profile] = profileEnv;
                app.Present.Add(entry.Key);
                continue;
            }
            if (!Keys.Contains(entry.Key))
            {
                values.UnknownKey(entry, where, isDefaults ? DefaultsKeys : Keys);
                continue;
            }
            app.Present.Add(entry.Key);
            int before = values.Errors.Count;
            ReadKey(app, entry);
            if (values.Errors.Count > before) app.Bad.Add(entry.Key);
        }
        return app;
    }

    private void ReadKey(RawApp app, TEntry e)
    {
        var key = e.Key;
        var pos = e.Value.Pos;
        switch (key)
        {
            case "name":
                if (values.String(e, key, out var name, allowEmpty: true))
                {
                    if (AppNames.Validate(name) is { } invalid) values.Fail(e.Value, invalid);
                    else app.Name = new(name, pos);
                }
                break;
            case "script":
                if (values.String(e, key, out var script)) app.Script = new(script, pos);
                break;
            case "cwd":
                if (values.String(e, key, out var cwd) && ConfigPaths.Resolve(configDirectory, cwd) is var cwdPath && values.PathFits(e.Value, key, cwdPath))
                    app.Cwd = new(cwdPath, pos);
                break;
            case "args":
                if (values.StringArray(e, key, out var args) && ArgsFit(e, key)) app.Args = new(args, pos);
                break;
            case "node_args":
                if (values.StringArray(e, key, out var nodeArgs) && ArgsFit(e, key)) app.NodeArgs = new(nodeArgs, pos);
                break;
            case "interpreter":
                // A bare name ("node") is looked up on PATH at start; a path is relative to the config folder.
                if (values.String(e, key, out var interpreter)
                    && (interpreter.Contains('/') ? ConfigPaths.Resolve(configDirectory, interpreter) : interpreter) is var program
                    && values.PathFits(e.Value, key, program))
                    app.Interpreter = new(program, pos);
                break;
            case "interpreter_args":
                if (values.StringArray(e, key, out var interpreterArgs) && ArgsFit(e, key)) app.InterpreterArgs = new(interpreterArgs, pos);
                break;
            case "max_old_space_size":
                if (values.Size(e, key, MiB, "\"1M\"", out var heap))
                {
                    if (heap / MiB > int.MaxValue) values.Fail(e.Value, $"max_old_space_size is too large, got {ValueReader.Got(e.Value)}");
                    else app.MaxOldSpaceSizeMb = new((int)(heap / MiB), pos);
                }
                break;
            case "env":
                if (ReadEnv(e) is { } env) app.Env = new(env, pos);
                break;
            case "env_file":
                ReadEnvFile(app, e);
                break;
            case "instances":
                ReadInstances(app, e);
                break;
            case "port":
                if (values.Integer(e, key, 1, 65535, out var port)) app.Port = new((int)port, pos);
                break;
            case "port_mode":
                if (values.OneOf(e, key, ConfigWords.PortMode, out var portMode)) app.PortMode = new(portMode, pos);
                break;
            case "ready":
                if (values.OneOf(e, key, ConfigWords.Ready, out var ready)) app.Ready = new(ready, pos);
                break;
            case "listen_timeout":
                if (values.Duration(e, key, positive: true, out var listenTimeout)) app.ListenTimeout = new(listenTimeout, pos);
                break;
            case "not_ready":
                if (values.OneOf(e, key, ConfigWords.NotReady, out var notReady)) app.NotReady = new(notReady, pos);
                break;
            case "restart":
                if (values.OneOf(e, key, ConfigWords.Restart, out var restart)) app.Restart = new(restart, pos);
                break;
            case "stop_exit_codes":
                if (values.IntegerArray(e, key, 0, 255, out var codes)) app.StopExitCodes = new(codes, pos);
                break;
            case "min_uptime":
                if (values.Duration(e, key, positive: false, out var minUptime)) app.MinUptime = new(minUptime, pos);
                break;
            case "max_restarts":
                if (values.Integer(e, key, 0, 1_000_000, out var maxRestarts)) app.MaxRestarts = new((int)maxRestarts, pos);
                break;
            case "restart_delay":
                if (values.Duration(e, key, positive: false, out var restartDelay)) app.RestartDelay = new(restartDelay, pos);
                break;
            case "max_restart_delay":
                if (values.Duration(e, key, positive: false, out var maxRestartDelay)) app.MaxRestartDelay = new(maxRestartDelay, pos);
                break;
            case "fixed_restart_delay":
                if (values.Duration(e, key, positive: false, out var fixedDelay)) app.FixedRestartDelay = new(fixedDelay, pos);
                break;
            case "cron_restart":
                if (values.String(e, key, out var cron))
                {
                    if (CronSchedule.Validate(cron) is { } why) values.Fail(e.Value, $"cron_restart must be a cron expression such as \"0 3 * * *\" (minute hour day month weekday), got {ValueReader.Got(e.Value)}: {why}");
                    else app.CronRestart = new(cron.Trim(), pos);
                }
                break;
            case "kill_signal":
                if (values.String(e, key, out var signal))
                {
                    if (Signals.Normalize(signal) is { } normalized) app.KillSignal = new(normalized, pos);
                    else values.Fail(e.Value, $"kill_signal must be a signal name such as \"SIGTERM\" or \"SIGINT\", got {ValueReader.Got(e.Value)}");
                }
                break;
            case "kill_timeout":
                if (values.Duration(e, key, positive: false, out var killTimeout)) app.KillTimeout = new(killTimeout, pos);
                break;
            case "drain_timeout":
                if (values.Duration(e, key, positive: false, out var drainTimeout)) app.DrainTimeout = new(drainTimeout, pos);
                break;
            case "max_memory":
                if (values.Size(e, key, 1, "1", out var maxMemory)) app.MaxMemory = new(maxMemory, pos);
                break;
            case "max_open_files":
                if (values.Integer(e, key, 1, 1_048_576, out var maxOpenFiles)) app.MaxOpenFiles = new((int)maxOpenFiles, pos);
                break;
            case "health":
                if (ReadHealth(e) is { } health) app.Health = new(health, pos);
                break;
            case "watch":
                ReadWatch(app, e);
                break;
            case "ignore_watch":
                if (values.StringArray(e, key, out var ignore)) app.IgnoreWatch = new(ignore, pos);
                break;
            case "user":
                if (values.String(e, key, out var user)) app.User = new(user, pos);
                break;
            case "clean_env":
                if (values.Boolean(e, key, out var clean)) app.CleanEnv = new(clean, pos);
                break;
            case "reload":
                if (ReadReload(e) is { } reload) app.Reload = new(reload, pos);
                break;
            case "capture":
                if (ReadCapture(e) is { } capture) app.Capture = new(capture, pos);
                break;
            case "http_metrics":
                if (values.Boolean(e, key, out var httpMetrics)) app.HttpMetrics = new(httpMetrics, pos);
                break;
            case "host":
                if (values.String(e, key, out var host))
                {
                    // IPAddress.TryParse also takes "1" (0.0.0.1) and "127.1": an IPv4 address must be a full dotted quad.
                    if (host == "localhost" || (System.Net.IPAddress.TryParse(host, out var ip)
                        && (ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || ip.ToString() == host)))
                        app.Host = new(host, pos);
                    else values.Fail(e.Value, $"host must be an IP address such as \"127.0.0.1\" or \"::\" (or \"localhost\"), got {Text.Quote(host)}");
                }
                break;
            case "log":
                if (ReadLog(e) is { } log) app.Log = new(log, pos);
                break;
        }
    }

    private Dictionary<string, string>? ReadEnv(TEntry e)
    {
        if (!values.Table(e, e.Key, "{ NODE_ENV = \"production\" }", out var table)) return null;
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        bool ok = true;
        foreach (var item in table.Entries)
        {
            var label = $"{e.Key}.{Text.Key(item.Key)}";
            if (item.Key.Length == 0 || item.Key.Contains('=') || item.Key.Contains('\0'))
            {
                values.Errors.Add(item.KeyPos, $"env key {Text.Quote(item.Key)} is not a valid variable name (it must be non-empty, without \"=\")");
                ok = false;
                continue;
            }
            string? text = item.Value switch
            {
                TScalar { Kind: ScalarKind.String } s => s.String,
                TScalar { Kind: ScalarKind.Integer } i => i.Integer.ToString(System.Globalization.CultureInfo.InvariantCulture),
                TScalar { Kind: ScalarKind.Float } f => f.Source.Replace("_", "", StringComparison.Ordinal),
                TScalar { Kind: ScalarKind.Boolean } b => b.Boolean ? "true" : "false",
                _ => null,
            };
            if (text is null)
            {
                values.Fail(item.Value, $"{label} must be a string, number or boolean, got {ValueReader.Got(item.Value)}");
                ok = false;
            }
            else if (text.Contains('\0'))
            {
                values.Fail(item.Value, $"{label} must not contain a NUL character");
                ok = false;
            }
            else if (!values.ArgFits(item.Value, label, item.Key + "=" + text, "a variable (NAME=value)")) ok = false;
            else env[item.Key] = text;
        }
        return ok ? env : null;
    }

    private void ReadEnvFile(RawApp app, TEntry e)
    {
        if (!values.String(e, "env_file", out var written)) return;
        var path = ConfigPaths.Resolve(configDirectory, written);
        if (!values.PathFits(e.Value, "env_file", path)) return;
        string? text, reason = $"{path} does not exist or is not readable";
        // The reader says why in its IOException (a link in a folder the app's user controls is refused: issue 13).
        try { text = ctx.ReadFile(path); }
        catch (IOException error) { text = null; reason = error.Message; }
        if (text is null)
        {
            values.Fail(e.Value, $"env_file {Text.Quote(written)} cannot be read: {reason}");
            return;
        }
        var parsed = DotEnv.Parse(text, ConfigPaths.Display(displayPath, written), out var errors);
        foreach (var error in errors) values.Errors.Add(error);
        foreach (var (name, value) in parsed)
        {
            if (!values.ArgFits(e.Value, $"{name} in env_file {Text.Quote(written)}", name + "=" + value, "a variable (NAME=value)")) return;
        }
        app.EnvFile = new(path, e.Value.Pos);
        app.EnvFromFile = parsed;
    }

    private void ReadInstances(RawApp app, TEntry e)
    {
        const string Expected = "instances must be a whole number or \"max\"";
        switch (e.Value)
        {
            case TScalar { Kind: ScalarKind.String, String: var s } when s.Equals("max", StringComparison.OrdinalIgnoreCase):
                app.Instances = new(Math.Clamp(ctx.CpuCount, 1, 1024), e.Value.Pos);
                break;
            case TScalar { Kind: ScalarKind.Integer } i:
                if (values.InRange(i, "instances", 1, 1024, out var n)) app.Instances = new((int)n, e.Value.Pos);
                break;
            default:
                values.Fail(e.Value, $"{Expected}, got {ValueReader.Got(e.Value)}");
                break;
        }
    }

    private ReloadSpec? ReadReload(TEntry e)
    {
        if (!values.Table(e, "reload", "{ canary = \"30s\", watch = \"60s\" }", out var table)) return null;
        var spec = ReloadSpec.Default;
        var ok = true;
        foreach (var item in table.Entries)
        {
            switch (item.Key)
            {
                case "canary":
                    ok &= values.Duration(item, "reload.canary", positive: false, out var canary);
                    spec = spec with { Canary = canary };
                    break;
                case "watch":
                    ok &= values.Duration(item, "reload.watch", positive: false, out var watch);
                    spec = spec with { Watch = watch };
                    break;
                case "min_failed":
                    ok &= values.Integer(item, "reload.min_failed", 1, 1_000_000, out var minFailed);
                    spec = spec with { MinFailed = (int)minFailed };
                    break;
                case "max_failed_increase":
                    ok &= values.Ratio(item, "reload.max_failed_increase", out var increase);
                    spec = spec with { MaxFailedIncrease = increase };
                    break;
                default:
                    values.UnknownKey(item, "in reload", ReloadKeys);
                    ok = false;
                    break;
            }
        }
        return ok ? spec : null;
    }

    private CaptureSpec? ReadCapture(TEntry e)
    {
        if (!values.Table(e, "capture", "{ stall = \"500ms\", heap = \"auto\" }", out var table)) return null;
        var spec = CaptureSpec.Default;
        var ok = true;
        foreach (var item in table.Entries)
        {
            switch (item.Key)
            {
                case "stall":
                    ok &= values.Duration(item, "capture.stall", positive: false, out var stall);
                    spec = spec with { Stall = stall };
                    break;
                case "cpu":
                    ok &= values.Duration(item, "capture.cpu", positive: true, out var cpu);
                    if (cpu > TimeSpan.FromMinutes(5)) ok &= Fail(item, "capture.cpu must be at most \"5m\" (a profile of a blocked loop needs seconds)");
                    spec = spec with { Cpu = cpu };
                    break;
                case "interval":
                    ok &= values.Duration(item, "capture.interval", positive: true, out var interval);
                    spec = spec with { Interval = interval };
                    break;
                case "heap":
                    HeapCapture? heap = item.Value is TScalar { Kind: ScalarKind.String } h
                        ? h.String switch { "auto" => HeapCapture.Auto, "always" => HeapCapture.Always, "never" => HeapCapture.Never, _ => null }
                        : null;
                    if (heap is { } chosen) spec = spec with { Heap = chosen };
                    else ok &= Fail(item, $"capture.heap must be \"auto\", \"always\" or \"never\", got {ValueReader.Got(item.Value)}");
                    break;
                case "heap_gap":
                    ok &= values.Duration(item, "capture.heap_gap", positive: true, out var gap);
                    spec = spec with { HeapGap = gap };
                    break;
                case "max_heap":
                    ok &= values.Size(item, "capture.max_heap", 1, "1", out var maxHeap);
                    spec = spec with { MaxHeap = maxHeap };
                    break;
                case "keep":
                    ok &= values.Integer(item, "capture.keep", 1, 10_000, out var keep);
                    spec = spec with { Keep = (int)keep };
                    break;
                case "max_size":
                    ok &= values.Size(item, "capture.max_size", MiB, "\"1M\"", out var maxSize);
                    spec = spec with { MaxSize = maxSize };
                    break;
                case "reports":
                    ok &= values.Boolean(item, "capture.reports", out var reports);
                    spec = spec with { Reports = reports };
                    break;
                case "watchdog":
                    WatchdogStart? start = item.Value is TScalar { Kind: ScalarKind.String } w
                        ? w.String switch { "on_lag" => WatchdogStart.OnLag, "always" => WatchdogStart.Always, _ => null }
                        : null;
                    if (start is { } from) spec = spec with { Watchdog = from };
                    else ok &= Fail(item, $"capture.watchdog must be \"on_lag\" or \"always\", got {ValueReader.Got(item.Value)}");
                    break;
                default:
                    values.UnknownKey(item, "in capture", CaptureKeys);
                    ok = false;
                    break;
            }
        }
        return ok ? spec : null;
    }

    private bool Fail(TEntry item, string message)
    {
        values.Fail(item.Value, message);
        return false;
    }

    private HealthSpec? ReadHealth(TEntry e)
    {
        if (!values.Table(e, "health", "{ url = \"http://127.0.0.1:3000/health\" }", out var table)) return null;
        string? url = null;
        TimeSpan interval = AppDefaults.HealthInterval, timeout = AppDefaults.HealthTimeout;
        int failures = AppDefaults.HealthFailures;
        TimeSpan? maxLag = null;
        bool ok = true;
        foreach (var item in table.Entries)
        {
            switch (item.Key)
            {
                case "url":
                    if (values.String(item, "health.url", out var u))
                    {
                        if (Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0) url = u;
                        else
                        {
                            values.Fail(item.Value, $"health.url must be an absolute http or https URL such as \"http://127.0.0.1:3000/health\", got {ValueReader.Got(item.Value)}");
                            ok = false;
                        }
                    }
                    else ok = false;
                    break;
                case "interval":
                    ok &= values.Duration(item, "health.interval", positive: true, out interval);
                    break;
                case "timeout":
                    ok &= values.Duration(item, "health.timeout", positive: true, out timeout);
                    break;
                case "failures":
                    ok &= values.Integer(item, "health.failures", 1, 1000, out var f);
                    failures = (int)f;
                    break;
                case "max_lag":
                    ok &= values.Duration(item, "health.max_lag", positive: true, out var lag);
                    maxLag = lag;
                    break;
                default:
                    values.UnknownKey(item, "in health", HealthKeys);
                    ok = false;
                    break;
            }
        }
        if (url is null && table.Find("url") is null)
        {
            values.Fail(e.Value, "health is missing required key \"url\"");
            ok = false;
        }
        return ok && url is not null ? new HealthSpec(url, interval, timeout, failures, maxLag) : null;
    }

    private LogSetting? ReadLog(TEntry e)
    {
        if (!values.Table(e, "log", "{ out = \"logs/api.out.log\", max_size = \"10M\" }", out var table)) return null;
        string? outPath = null, errPath = null;
        long maxSize = AppDefaults.LogMaxSize;
        int keep = AppDefaults.LogKeep;
        bool timestamps = AppDefaults.LogTimestamps, ok = true;
        var format = LogFormat.Text;
        foreach (var item in table.Entries)
        {
            switch (item.Key)
            {
                case "out":
                    if (values.String(item, "log.out", out var o) && values.PathFits(item.Value, "log.out", ConfigPaths.Resolve(configDirectory, o)))
                        outPath = ConfigPaths.Resolve(configDirectory, o);
                    else ok = false;
                    break;
                case "err":
                    if (values.String(item, "log.err", out var r) && values.PathFits(item.Value, "log.err", ConfigPaths.Resolve(configDirectory, r)))
                        errPath = ConfigPaths.Resolve(configDirectory, r);
                    else ok = false;
                    break;
                case "max_size":
                    ok &= values.Size(item, "log.max_size", 1, "1", out maxSize);
                    break;
                case "keep":
                    ok &= values.Integer(item, "log.keep", 0, 1000, out var k);
                    keep = (int)k;
                    break;
                case "timestamps":
                    ok &= values.Boolean(item, "log.timestamps", out timestamps);
                    break;
                case "format":
                    ok &= values.OneOf(item, "log.format", ConfigWords.LogFormat, out format);
                    break;
                default:
                    values.UnknownKey(item, "in log", LogKeys);
                    ok = false;
                    break;
            }
        }
        return ok ? new LogSetting(outPath, errPath, maxSize, keep, timestamps, format) : null;
    }

    /// <summary>Every item of an args-like array is short enough for execve (each item already a string).</summary>
    private bool ArgsFit(TEntry e, string label)
    {
        bool ok = true;
        var items = ((TArray)e.Value).Items;
        for (int i = 0; i < items.Count; i++)
            ok &= values.ArgFits(items[i], $"{label}[{i.ToString(System.Globalization.CultureInfo.InvariantCulture)}]", ((TScalar)items[i]).String);
        return ok;
    }

    private void ReadWatch(RawApp app, TEntry e)
    {
        if (e.Value is TScalar { Kind: ScalarKind.Boolean } b)
        {
            app.Watch = new(new WatchSetting(b.Boolean, null), e.Value.Pos);
            return;
        }
        if (e.Value is not TArray)
        {
            values.Fail(e.Value, $"watch must be true, false or an array of paths, got {ValueReader.Got(e.Value)}");
            return;
        }
        if (values.StringArray(e, "watch", out var paths))
            app.Watch = new(new WatchSetting(paths.Count > 0, paths), e.Value.Pos);
    }
}
