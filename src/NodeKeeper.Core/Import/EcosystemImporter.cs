using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>What the importer needs besides the evaluated ecosystem file.</summary>
public sealed record ImportOptions
{
    /// <summary>Absolute folder of the ecosystem file: a relative cwd (and, without cwd, script and log files) resolve against it.</summary>
    public required string EcosystemDirectory { get; init; }
    /// <summary>How the output's first comment names the ecosystem file.</summary>
    public string EcosystemFile { get; init; } = "ecosystem.config.js";
    /// <summary>As <c>pm2 start --env NAME</c>: env_NAME is merged over env.</summary>
    public string? EnvName { get; init; }
    /// <summary>What PM2's instances = -1 ("CPUs minus one") becomes.</summary>
    public int CpuCount { get; init; } = 1;
    /// <summary>What a leading "~" in cwd and log files means, as PM2 expands it; null leaves it as written.</summary>
    public string? HomeDirectory { get; init; }
    /// <summary>Whether a script path exists; a script that is not a file and has no "/" is a command such as "npm".</summary>
    public Func<string, bool> FileExists { get; init; } = _ => true;
}

/// <summary>
/// The outcome of an import: nodekeeper.toml text (null when <see cref="Errors"/> is not empty), and one note per PM2
/// option that was not carried over or changed meaning, such as <c>app "api": cron_restart is not mapped: …</c>.
/// </summary>
public sealed record ImportResult(string? Toml, IReadOnlyList<string> Notes, IReadOnlyList<string> Errors)
{
    public bool Ok => Toml is not null && Errors.Count == 0;
}

/// <summary>
/// Turns an evaluated PM2 ecosystem file (the JSON of <c>{ apps: [...] }</c>) into nodekeeper.toml text. Pure: the
/// world comes in through <see cref="ImportOptions"/>. Paths are written absolute, resolved as PM2 resolves them
/// (cwd against the ecosystem file's folder; script, log files and watch paths against the app's cwd), so the
/// output works wherever it is saved. Nothing is added that the ecosystem file does not say, except the app's cwd
/// (PM2's default, the ecosystem folder, written out) and a name derived from the script as PM2 derives it.
/// </summary>
public static partial class EcosystemImporter
{
    public static ImportResult Import(JsonElement ecosystem, ImportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!Path.IsPathFullyQualified(options.EcosystemDirectory))
            throw new ArgumentException($"EcosystemDirectory must be absolute, got \"{options.EcosystemDirectory}\"", nameof(options));

        var notes = new List<string>();
        var errors = new List<string>();
        var apps = AppElements(ecosystem, notes, errors);
        if (apps is null) return new ImportResult(null, notes, errors);

        var names = new HashSet<string>(StringComparer.Ordinal);
        var blocks = new List<string>();
        for (int i = 0; i < apps.Count; i++)
        {
            var mapper = new AppMapper(apps[i], i, options, notes, errors, names);
            if (mapper.Map() is { } block) blocks.Add(block);
        }
        if (errors.Count > 0) return new ImportResult(null, notes, errors);
        if (blocks.Count == 0)
        {
            errors.Add(apps.Count == 0 ? "it defines no apps" : "no app could be imported (see the notes)");
            return new ImportResult(null, notes, errors);
        }

        var sb = new StringBuilder();
        var source = Path.Combine(options.EcosystemDirectory, options.EcosystemFile);
        sb.Append("# Imported by nk import from ").Append(OneLine(source));
        if (options.EnvName is { } env) sb.Append(" with --env ").Append(OneLine(env));
        sb.Append(".\n");
        sb.Append("# Paths are absolute (resolved as PM2 resolves them, from the ecosystem file's folder), so this file\n");
        sb.Append($"# works wherever it is saved. PM2 stopped apps with SIGINT; NodeKeeper sends kill_signal ({AppDefaults.KillSignal} by default).\n");
        foreach (var block in blocks) sb.Append('\n').Append(block);
        return new ImportResult(sb.ToString(), notes, errors);
    }

    /// <summary>The app objects of { apps: [...] } (or { pm2: [...] }, an array, or { apps: {...} }); null after an error.</summary>
    private static List<JsonElement>? AppElements(JsonElement root, List<string> notes, List<string> errors)
    {
        switch (root.ValueKind)
        {
            case JsonValueKind.Array:
                return root.EnumerateArray().ToList();
            case JsonValueKind.Object:
                JsonElement? apps = null;
                foreach (var p in root.EnumerateObject())
                {
                    if (p.Name is "apps" or "pm2") apps ??= p.Value;
                    else if (p.Name == "deploy") notes.Add("deploy is not mapped: NodeKeeper does not deploy; keep your deploy tool and run nk start after it");
                    else notes.Add($"{p.Name} is not mapped: not part of a PM2 ecosystem file");
                }
                if (apps is null)
                {
                    errors.Add("it exports no apps: expected module.exports = { apps: [ ... ] }");
                    return null;
                }
                if (apps.Value.ValueKind == JsonValueKind.Object) return [apps.Value];
                if (apps.Value.ValueKind == JsonValueKind.Array) return apps.Value.EnumerateArray().ToList();
                errors.Add($"apps must be an array of apps, got {Kind(apps.Value)}");
                return null;
            default:
                errors.Add($"it exports {Kind(root)}, not {{ apps: [ ... ] }}");
                return null;
        }
    }

    internal static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>
    /// Splits a PM2 args string the way a shell splits simple command lines: on blanks, with '…' and "…" quoting and
    /// backslash escapes. No expansion ($VAR, globs) happens, as PM2 does none either.
    /// </summary>
    public static List<string> SplitArgs(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var list = new List<string>();
        var cur = new StringBuilder();
        bool inWord = false;
        char quote = '\0';
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (quote == '\'')
            {
                if (c == '\'') quote = '\0'; else cur.Append(c);
                continue;
            }
            if (quote == '"')
            {
                if (c == '"') quote = '\0';
                else if (c == '\\' && i + 1 < s.Length && s[i + 1] is '"' or '\\' or '$' or '`') cur.Append(s[++i]);
                else cur.Append(c);
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                if (inWord) list.Add(cur.ToString());
                cur.Clear();
                inWord = false;
                continue;
            }
            inWord = true;
            if (c is '\'' or '"') quote = c;
            else if (c == '\\' && i + 1 < s.Length) cur.Append(s[++i]);
            else cur.Append(c);
        }
        if (inWord) list.Add(cur.ToString());
        return list;
    }

    /// <summary>Bytes with the largest unit that divides them exactly: "300M", "1G", "1000B".</summary>
    internal static string SizeText(long bytes)
    {
        string[] units = ["B", "K", "M", "G", "T"];
        int unit = 0;
        while (unit < units.Length - 1 && bytes >= 1024 && bytes % 1024 == 0)
        {
            bytes /= 1024;
            unit++;
        }
        return bytes.ToString(CultureInfo.InvariantCulture) + units[unit];
    }

    /// <summary>Text for a one-line comment or message: control characters shown as spaces.</summary>
    internal static string OneLine(string s) => new(s.Select(c => char.IsControl(c) ? ' ' : c).ToArray());

    [GeneratedRegex("^env_\\S+$")]
    internal static partial Regex EnvBlockPattern();
}

/// <summary>Maps one app object of an ecosystem file to one [[app]] block, collecting notes in the order of its keys.</summary>
internal sealed class AppMapper(JsonElement app, int index, ImportOptions options, List<string> notes, List<string> errors, HashSet<string> names)
{
    private static readonly string[] ScriptKeys = ["script", "exec", "cmd", "command"];
    private static readonly string[] NodeArgsKeys = ["node_args", "interpreter_args", "interpreterArgs"];
    private static readonly string[] InterpreterKeys = ["interpreter", "exec_interpreter"];
    private static readonly string[] OutKeys = ["out_file", "out", "output", "out_log"];
    private static readonly string[] ErrKeys = ["error_file", "error", "err", "err_file", "err_log"];
    private static readonly string[] NodeScriptExtensions = [".js", ".cjs", ".mjs", ".ts", ".cts", ".mts", ".jsx", ".tsx", ".coffee", ".ls"];
    private static readonly string[] OtherLanguageExtensions = [".py", ".sh", ".bash", ".rb", ".php", ".pl", ".lua", ".jar", ".exe"];

    private const string Monitoring = "PM2.io monitoring; NodeKeeper has its own (nk monit, nk why, nk status --json)";

    /// <summary>PM2 options NodeKeeper has no equivalent of, and why.</summary>
    private static readonly Dictionary<string, string> Reasons = new(StringComparer.Ordinal)
    {
        ["cron_restart"] = "NodeKeeper has no scheduled restarts; run nk restart NAME from cron or a systemd timer",
        ["cron"] = "NodeKeeper has no scheduled restarts; run nk restart NAME from cron or a systemd timer",
        ["vizion"] = "NodeKeeper keeps no version-control metadata",
        ["post_update"] = "NodeKeeper does not pull or update apps",
        ["source_map_support"] = "NodeKeeper does not install source-map-support; add \"--enable-source-maps\" to node_args",
        ["disable_source_map_support"] = "NodeKeeper does not install source-map-support",
        ["namespace"] = "NodeKeeper has no namespaces; apps are addressed by name",
        ["treekill"] = "NodeKeeper always stops the whole process tree",
        ["instance_var"] = "NodeKeeper always sets NODE_APP_INSTANCE (and NK_INSTANCE)",
        ["filter_env"] = "NodeKeeper filters nothing out: apps get the daemon's environment plus env",
        ["gid"] = "NodeKeeper runs the app with the groups of user",
        ["pid_file"] = "NodeKeeper writes no pid files; nk status --json shows each instance's pid",
        ["pid"] = "NodeKeeper writes no pid files; nk status --json shows each instance's pid",
        ["log_type"] = "NodeKeeper writes log lines as the app prints them",
        ["disable_logs"] = $"NodeKeeper always keeps logs (rotated at log.max_size, {Size.Format(AppDefaults.LogMaxSize)} by default)",
        ["watch_delay"] = "NodeKeeper's watcher has no delay setting",
        ["watch_options"] = "NodeKeeper's watcher takes no chokidar options",
        ["shutdown_with_message"] = $"NodeKeeper sends the message 'shutdown' when a shared-port instance starts draining, and then kill_signal ({AppDefaults.KillSignal} by default) in any case",
        ["kill_retry_time"] = "NodeKeeper sends SIGKILL once, when kill_timeout has passed",
        ["autostart"] = "NodeKeeper starts every app of the config; run nk stop NAME after nk start",
        ["force"] = "NodeKeeper starts each app once, by name",
        ["pmx"] = Monitoring,
        ["automation"] = Monitoring,
        ["trace"] = Monitoring,
        ["disable_trace"] = Monitoring,
        ["deep_monitoring"] = Monitoring,
        ["v8"] = Monitoring,
        ["event_loop_inspector"] = Monitoring,
        ["io"] = Monitoring,
        ["name_prefix"] = "NodeKeeper names are written in full",
        ["node_version"] = "NodeKeeper runs the node of interpreter (or of PATH)",
        ["execute_command"] = "NodeKeeper runs Node.js scripts only",
        ["install_url"] = "NodeKeeper installs nothing",
    };

    private readonly Dictionary<string, JsonElement> _props = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _order = new(StringComparer.Ordinal);
    private readonly HashSet<string> _done = new(StringComparer.Ordinal);
    private readonly List<(int Order, string Text)> _notes = [];
    private readonly List<string> _lines = [];
    private readonly List<string> _log = [];
    private string _label = $"app {(index + 1).ToString(CultureInfo.InvariantCulture)}";

    public string? Map()
    {
        if (app.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{_label} must be an object with a script, got {EcosystemImporter.Kind(app)}");
            return null;
        }
        foreach (var p in app.EnumerateObject())
        {
            if (_props.TryAdd(p.Name, p.Value)) _order[p.Name] = _order.Count;
        }

        var (scriptKey, script) = FirstString(ScriptKeys);
        if (!Name(script) || script is null)
        {
            if (script is null) errors.Add($"{_label} has no script: PM2 needs one too");
            Flush();
            return null;
        }
        var cwd = options.EcosystemDirectory;
        if (Take("cwd", out var cwdValue))
        {
            if (cwdValue.ValueKind == JsonValueKind.String && cwdValue.GetString()!.Length > 0) cwd = ConfigPaths.Resolve(options.EcosystemDirectory, Home(cwdValue.GetString()!));
            else Invalid("cwd", cwdValue, "a folder");
        }

        var (interpreterKey, interpreter) = FirstString(InterpreterKeys);
        bool nodeInterpreter = interpreter is null || IsNode(interpreter);
        if (NotNodeScript(scriptKey!, script, cwd, interpreterKey, interpreter) is { } why)
        {
            // The rest of the app is moot: say why once, not once per option.
            foreach (var key in _props.Keys) _done.Add(key);
            _notes.Clear();
            Note(scriptKey!, $"{scriptKey} {TomlText.String(script)} is not mapped: {why}; the app is left out");
            Flush();
            return null;
        }

        Line("script", S(ConfigPaths.Resolve(cwd, script)));
        Line("cwd", S(cwd));
        if (StringList("args", splitString: true) is { Count: > 0 } args) Line("args", TomlText.Array(args));
        var (nodeArgsKey, _) = First(NodeArgsKeys);
        if (nodeArgsKey is not null && StringList(nodeArgsKey, splitString: true) is { Count: > 0 } nodeArgs)
            Line("node_args", TomlText.Array(nodeArgs));
        if (interpreter is not null && interpreter != AppDefaults.Interpreter)
        {
            if (nodeInterpreter && !interpreter.Contains('@'))
                Line("interpreter", S(interpreter.Contains('/') ? ConfigPaths.Resolve(options.EcosystemDirectory, Home(interpreter)) : interpreter));
            else if (interpreter.Contains('@'))
                Note(interpreterKey!, $"{interpreterKey} is not mapped: NodeKeeper installs no node versions ({TomlText.String(interpreter)}); give the path of a node binary, or leave it out to use node from PATH");
            else
                Note(interpreterKey!, $"{interpreterKey} is not mapped: NodeKeeper runs apps with node, so {TomlText.String(interpreter)} is not used and the app runs with node");
        }

        var (instances, instancesCount) = Instances();
        var cluster = ExecMode(instances, nodeInterpreter);
        var env = Env();
        Ports(env, cluster, instancesCount);
        if (instances is not null) _lines.Insert(Math.Min(_lines.Count, _portAt), $"instances = {instances}");
        Restart();
        Timings();
        Memory();
        Watch(cwd);
        User();
        EnvFile(cwd);
        Logs(cwd);
        Leftovers();
        Flush();

        var sb = new StringBuilder("[[app]]\n");
        sb.Append("name = ").Append(S(_name!)).Append('\n');
        foreach (var line in _lines) sb.Append(line).Append('\n');
        if (_log.Count > 0) sb.Append("log = { ").Append(string.Join(", ", _log)).Append(" }\n");
        if (env.Count > 0)
        {
            sb.Append("\n[app.env]\n");
            foreach (var (k, v) in env) sb.Append(TomlText.Key(k)).Append(" = ").Append(S(v)).Append('\n');
        }
        return sb.ToString();
    }

    private string? _name;
    private int _portAt;

    // ---- name, script, interpreter ----

    /// <summary>The app's name as written, or derived from its script as PM2 does; made valid and unique. False after an error.</summary>
    private bool Name(string? script)
    {
        string? written = null;
        if (Take("name", out var v))
        {
            if (v.ValueKind == JsonValueKind.String) written = v.GetString();
            else if (v.ValueKind == JsonValueKind.Number) written = v.GetRawText();
            else
            {
                errors.Add($"{_label}: name must be a string, got {EcosystemImporter.Kind(v)}");
                return false;
            }
        }
        bool derived = string.IsNullOrEmpty(written);
        string? name = derived ? DeriveName(script) : written;
        if (name is null)
        {
            _label = $"app {(index + 1).ToString(CultureInfo.InvariantCulture)}";
            return true; // no script either: the caller reports it
        }
        _label = $"app {TomlText.String(name)}";
        if (Take("append_env_to_name", out var append) && append.ValueKind == JsonValueKind.True && options.EnvName is { } envName)
            name += "-" + envName;

        var valid = AppNames.MakeValid(name);
        var unique = valid;
        for (int n = 2; !names.Add(unique); n++)
        {
            var suffix = "-" + n.ToString(CultureInfo.InvariantCulture);
            unique = (valid.Length + suffix.Length > AppNames.MaxLength ? valid[..(AppNames.MaxLength - suffix.Length)] : valid) + suffix;
        }
        _name = unique;
        _label = $"app {TomlText.String(unique)}";
        if (derived)
            Note("name", $"it has no name: named {TomlText.String(unique)} after its script, as PM2 names it");
        else if (unique != name)
            Note("name", $"name {TomlText.String(name)} is written as {TomlText.String(unique)}: {AppNames.Reserved(name) ?? "NodeKeeper names are unique, " + AppNames.Shape}");
        return true;
    }

    private static string? DeriveName(string? script)
    {
        if (string.IsNullOrEmpty(script)) return null;
        var name = Path.GetFileName(script.TrimEnd('/'));
        int dot = name.LastIndexOf('.');
        if (dot > 0) name = name[..dot];
        return name.Length > 0 ? name : null;
    }

    private static bool IsNode(string interpreter)
    {
        var file = Path.GetFileName(interpreter);
        return file is "node" or "nodejs" || file.EndsWith("node", StringComparison.Ordinal) || file.StartsWith("node@", StringComparison.Ordinal);
    }

    /// <summary>Why the script cannot run as a Node.js script (so the app is left out), or null.</summary>
    private string? NotNodeScript(string scriptKey, string script, string cwd, string? interpreterKey, string? interpreter)
    {
        if (script.Any(char.IsWhiteSpace))
            return "PM2 runs a script with spaces through bash -c, NodeKeeper runs Node.js scripts; point script at the .js file and put the rest in args";
        if (interpreter == "none")
            return $"{interpreterKey} = \"none\" runs it as a binary, NodeKeeper runs Node.js scripts";
        var ext = Path.GetExtension(script).ToLowerInvariant();
        bool nodeInterpreter = interpreter is null || IsNode(interpreter);
        if (OtherLanguageExtensions.Contains(ext) && nodeInterpreter)
            return "it is not a Node.js script, and NodeKeeper runs Node.js scripts";
        if (!script.Contains('/') && !NodeScriptExtensions.Contains(ext) && !options.FileExists(ConfigPaths.Resolve(cwd, script)))
            return $"it is a command, not a Node.js script; point {scriptKey} at the .js file it runs (for npm start, the start script of package.json) and put its arguments in args";
        return null;
    }

    // ---- instances, exec_mode, env, ports ----

    /// <summary>The instances value to write ("max" or a number) and the count it stands for.</summary>
    private (string? Text, int Count) Instances()
    {
        if (!Take("instances", out var v)) return (null, 1);
        long n;
        if (v.ValueKind == JsonValueKind.String && v.GetString()!.Trim().Equals("max", StringComparison.OrdinalIgnoreCase)) n = 0;
        else if (!Whole(v, out n))
        {
            Invalid("instances", v, "a number or \"max\"");
            return (null, 1);
        }
        _instancesWritten = n;
        if (n == 0) return ("\"max\"", options.CpuCount);
        if (n < 0)
        {
            var count = (int)Math.Clamp(options.CpuCount + n, 1, 1024);
            Note("instances", $"instances = {n.ToString(CultureInfo.InvariantCulture)} (CPUs minus {(-n).ToString(CultureInfo.InvariantCulture)}) is written as {count.ToString(CultureInfo.InvariantCulture)}, for the {options.CpuCount.ToString(CultureInfo.InvariantCulture)} CPUs of this machine: NodeKeeper has \"max\" but no \"max minus N\"");
            return (count.ToString(CultureInfo.InvariantCulture), count);
        }
        if (n > 1024)
        {
            Note("instances", $"instances = {n.ToString(CultureInfo.InvariantCulture)} is written as 1024, NodeKeeper's largest");
            return ("1024", 1024);
        }
        return (n.ToString(CultureInfo.InvariantCulture), (int)n);
    }

    private long? _instancesWritten;

    /// <summary>Whether PM2 runs the app in cluster mode: exec_mode says so, or (as PM2 decides) instances is set and the interpreter is node.</summary>
    private bool ExecMode(string? instances, bool nodeInterpreter)
    {
        if (Take("exec_mode", out var v))
        {
            var mode = v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            if (mode is "cluster" or "cluster_mode") return true;
            if (mode is "fork" or "fork_mode") return false;
            Invalid("exec_mode", v, "\"fork\" or \"cluster\"");
        }
        return instances is not null && _instancesWritten is >= 1 or 0 or -1 && nodeInterpreter;
    }

    /// <summary>env, with env_NAME merged over it (--env NAME) and PM2's port option as PORT.</summary>
    private OrderedDictionary<string, string> Env()
    {
        var env = new OrderedDictionary<string, string>(StringComparer.Ordinal);
        if (Take("env", out var v)) MergeEnv(env, "env", v);
        if (options.EnvName is { } name)
        {
            var key = "env_" + name;
            if (Take(key, out var block)) MergeEnv(env, key, block);
            else Note("env", $"--env {name}: it has no {key}, so env is used as it is");
        }
        if (Take("port", out var port))
        {
            if (Whole(port, out var p)) env["PORT"] = p.ToString(CultureInfo.InvariantCulture);
            else Invalid("port", port, "a port number");
        }
        return env;
    }

    private void MergeEnv(OrderedDictionary<string, string> env, string key, JsonElement block)
    {
        if (block.ValueKind != JsonValueKind.Object)
        {
            Invalid(key, block, "an object of variables");
            return;
        }
        foreach (var p in block.EnumerateObject())
        {
            // As node's child_process: String(value); objects as PM2 writes them, in JSON.
            var value = p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!,
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                JsonValueKind.Null => "null",
                _ => p.Value.GetRawText(),
            };
            if (p.Name.Length == 0 || p.Name.Contains('=') || p.Name.Contains('\0'))
                Note(key, $"{key}.{TomlText.String(p.Name)} is not mapped: not a valid variable name");
            else if (value.Contains('\0'))
                Note(key, $"{key}.{p.Name} is not mapped: its value holds a NUL character");
            else env[p.Name] = value;
        }
    }

    /// <summary>cluster mode with a numeric PORT: port in shared mode; increment_var = "PORT": increment mode.</summary>
    private void Ports(OrderedDictionary<string, string> env, bool cluster, int instances)
    {
        _portAt = _lines.Count;
        int? port = env.TryGetValue("PORT", out var text) && text.Length is > 0 and <= 5 && text.All(char.IsAsciiDigit)
            && int.Parse(text, CultureInfo.InvariantCulture) is >= 1 and <= 65535 and var p ? p : null;
        PortMode? mode = null;
        if (Take("increment_var", out var inc))
        {
            var variable = inc.ValueKind == JsonValueKind.String ? inc.GetString() : null;
            if (variable != "PORT")
                Note("increment_var", $"increment_var is not mapped: NodeKeeper increments only PORT (port_mode = \"{PortMode.Increment.Word()}\"), not {(variable is null ? EcosystemImporter.Kind(inc) : TomlText.String(variable))}");
            else if (port is null)
                Note("increment_var", "increment_var is not mapped: env sets no numeric PORT to count from");
            else mode = PortMode.Increment;
        }
        if (mode is null && cluster)
        {
            if (port is not null) mode = PortMode.Shared;
            else if (instances != 1)
            {
                const string Why = "env sets no numeric PORT, so the instances share no port (set port in the output if the app listens on one)";
                if (_props.ContainsKey("exec_mode")) Note("exec_mode", $"exec_mode \"cluster\" is not mapped: {Why}");
                else Note("instances", $"cluster mode (PM2's for instances without exec_mode) is not mapped: {Why}");
            }
        }
        if (mode is null) return;
        env.Remove("PORT"); // NodeKeeper sets PORT itself from port
        Line("port", port!.Value.ToString(CultureInfo.InvariantCulture));
        Line("port_mode", S(mode.Value.Word()));
    }

    // ---- restarts and timings ----

    private void Restart()
    {
        if (Take("wait_ready", out var ready) && ready.ValueKind == JsonValueKind.True) Line("ready", S(ReadyMode.Message.Word()));
        else if (ready.ValueKind is not (JsonValueKind.False or JsonValueKind.Undefined or JsonValueKind.True)) Invalid("wait_ready", ready, "true or false");

        bool never = false;
        if (Take("autorestart", out var auto))
        {
            if (auto.ValueKind == JsonValueKind.False) never = true;
            else if (auto.ValueKind != JsonValueKind.True) Invalid("autorestart", auto, "true or false");
        }
        List<int>? codes = null;
        if (Take("stop_exit_codes", out var sc))
        {
            var items = sc.ValueKind == JsonValueKind.Array ? sc.EnumerateArray().ToList() : [sc];
            codes = [];
            foreach (var item in items)
            {
                if (Whole(item, out var c) && c is >= 0 and <= 255) codes.Add((int)c);
                else
                {
                    Invalid("stop_exit_codes", sc, "exit codes from 0 to 255");
                    codes = null;
                    break;
                }
            }
        }
        if (never)
        {
            Line("restart", S(RestartMode.Never.Word()));
            if (codes is not null) Note("stop_exit_codes", "stop_exit_codes is not mapped: autorestart is false, so no exit is restarted anyway");
        }
        else if (codes is { Count: > 0 })
        {
            Line("restart", S(RestartMode.OnFailure.Word()));
            Line("stop_exit_codes", "[" + string.Join(", ", codes.Select(c => c.ToString(CultureInfo.InvariantCulture))) + "]");
        }
    }

    private void Timings()
    {
        if (TakeDuration("listen_timeout", positiveOr: AppDefaults.ListenTimeout) is { } listen) Line("listen_timeout", D(listen));
        if (TakeDuration("min_uptime") is { } minUptime) Line("min_uptime", D(minUptime));
        if (Take("max_restarts", out var mr))
        {
            if (Whole(mr, out var n) && n is >= 0 and <= 1_000_000) Line("max_restarts", n.ToString(CultureInfo.InvariantCulture));
            else Invalid("max_restarts", mr, "a whole number from 0 to 1000000");
        }
        var exp = TakeDuration("exp_backoff_restart_delay");
        var fixedDelay = TakeDuration("restart_delay");
        TimeSpan? delay = null;
        if (exp is { } e && e > TimeSpan.Zero)
        {
            delay = e;
            Note("exp_backoff_restart_delay", $"exp_backoff_restart_delay is written as restart_delay: NodeKeeper always backs off exponentially, doubling restart_delay after each unstable run up to max_restart_delay ({Duration.Format(AppDefaults.MaxRestartDelay)})");
            if (fixedDelay is not null) Note("restart_delay", "restart_delay is not mapped: exp_backoff_restart_delay is used as restart_delay");
        }
        else delay = fixedDelay;
        if (delay is { } d)
        {
            Line("restart_delay", D(d));
            if (d > AppDefaults.MaxRestartDelay)
            {
                Line("max_restart_delay", D(d));
                Note(exp is not null ? "exp_backoff_restart_delay" : "restart_delay", $"max_restart_delay is set to {Duration.Format(d)} too: restart_delay may not exceed it ({Duration.Format(AppDefaults.MaxRestartDelay)} by default)");
            }
        }
        if (TakeDuration("kill_timeout") is { } kill) Line("kill_timeout", D(kill));
    }

    private void Memory()
    {
        if (!Take("max_memory_restart", out var v)) return;
        long bytes = 0;
        bool ok = v.ValueKind switch
        {
            JsonValueKind.Number => Whole(v, out bytes),
            JsonValueKind.String when v.GetString()!.Trim() is { Length: > 0 } s && s.All(char.IsAsciiDigit) => long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out bytes),
            JsonValueKind.String => Size.TryParse(v.GetString()!, out bytes, out _),
            _ => false,
        };
        if (ok && bytes > 0) Line("max_memory", S(EcosystemImporter.SizeText(bytes)));
        else Invalid("max_memory_restart", v, "a size such as \"300M\", \"1G\", \"512K\" or a number of bytes");
    }

    // ---- watch, user, env file, logs ----

    private void Watch(string cwd)
    {
        if (Take("watch", out var w))
        {
            List<string>? paths = w.ValueKind switch
            {
                JsonValueKind.True => [cwd],
                JsonValueKind.False => [],
                JsonValueKind.String => [w.GetString()!],
                JsonValueKind.Array when w.EnumerateArray().All(i => i.ValueKind == JsonValueKind.String) => w.EnumerateArray().Select(i => i.GetString()!).ToList(),
                _ => null,
            };
            if (paths is null || paths.Any(p => p.Length == 0)) Invalid("watch", w, "true, false, a path or an array of paths");
            else if (paths.Count > 0) Line("watch", TomlText.Array(paths.Select(p => ConfigPaths.Resolve(cwd, p))));
        }
        if (StringList("ignore_watch", splitString: true) is { Count: > 0 } ignore) Line("ignore_watch", TomlText.Array(ignore));
    }

    private void User()
    {
        var (key, value) = First(["uid", "user"]);
        if (key is null) return;
        foreach (var other in new[] { "uid", "user" }.Where(k => k != key && _props.ContainsKey(k)))
        {
            _done.Add(other);
            Note(other, $"{other} is not mapped: {key} is used, as PM2 does");
        }
        var user = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            _ => null,
        };
        if (string.IsNullOrEmpty(user) || user.Contains('\0')) Invalid(key, value, "a user name or id");
        else Line("user", S(user));
    }

    private void EnvFile(string cwd)
    {
        // PM2 reads env_file as an env block for --env file; a string there can only be a dotenv path.
        if (_props.TryGetValue("env_file", out var v) && v.ValueKind == JsonValueKind.String && !_done.Contains("env_file"))
        {
            _done.Add("env_file");
            if (v.GetString()!.Length == 0 || v.GetString()!.Contains('\0')) Invalid("env_file", v, "a file");
            else Line("env_file", S(ConfigPaths.Resolve(cwd, Home(v.GetString()!))));
        }
    }

    private void Logs(string cwd)
    {
        LogFile("out", OutKeys, cwd);
        LogFile("err", ErrKeys, cwd);
        bool timestamps = false;
        if (Take("time", out var time) && time.ValueKind == JsonValueKind.True) timestamps = true;
        if (Take("log_date_format", out var format) && format.ValueKind == JsonValueKind.String && format.GetString()!.Length > 0)
        {
            timestamps = true;
            Note("log_date_format", $"log_date_format is written as log.timestamps = true: NodeKeeper prefixes ISO-8601 UTC times, {TomlText.String(format.GetString()!)} is not kept");
        }
        if (timestamps) _log.Add("timestamps = true");
        foreach (var key in new[] { "merge_logs", "combine_logs" })
        {
            if (Take(key, out var merge) && merge.ValueKind == JsonValueKind.False)
                Note(key, $"{key} = false is not mapped: NodeKeeper writes every instance of an app into the same files, each line prefixed with [i]");
        }
        foreach (var key in new[] { "log_file", "log" })
        {
            if (Take(key, out var combined) && combined.ValueKind is not JsonValueKind.False)
                Note(key, $"{key} is not mapped: NodeKeeper writes stdout and stderr to separate files (log.out, log.err), not to a combined one");
        }
    }

    private void LogFile(string stream, string[] keys, string cwd)
    {
        var (key, v) = First(keys);
        if (key is null) return;
        foreach (var other in keys.Where(k => k != key && _props.ContainsKey(k)))
        {
            _done.Add(other);
            Note(other, $"{other} is not mapped: {key} is used");
        }
        if (v.ValueKind != JsonValueKind.String || v.GetString()!.Length == 0 || v.GetString()!.Contains('\0'))
        {
            Invalid(key, v, "a file");
            return;
        }
        var path = v.GetString()!;
        if (path is "/dev/null" or "NULL")
            Note(key, $"{key} {TomlText.String(path)} is not mapped: NodeKeeper always keeps logs, so the default log file is used (rotated at {Size.Format(AppDefaults.LogMaxSize)}, {AppDefaults.LogKeep} kept)");
        else _log.Add($"{stream} = {S(ConfigPaths.Resolve(cwd, Home(path)))}");
    }

    /// <summary>Every key not used above: a known PM2 option NodeKeeper has no equivalent of, another env block, or an unknown key.</summary>
    private void Leftovers()
    {
        foreach (var (key, value) in _props)
        {
            if (_done.Contains(key) || value.ValueKind == JsonValueKind.Null) continue;
            if (EcosystemImporter.EnvBlockPattern().IsMatch(key))
            {
                var env = key["env_".Length..];
                Note(key, options.EnvName is { } chosen
                    ? $"{key} is not mapped: only env_{chosen} is merged over env (--env {chosen})"
                    : $"{key} is not mapped: pass --env {env} to merge it over env, as pm2 start --env {env} does");
            }
            else if (Reasons.TryGetValue(key, out var reason))
            {
                if (!Default(key, value)) Note(key, $"{key} is not mapped: {reason}");
            }
            else if (key is "script" or "exec" or "cmd" or "command" or "interpreter" or "exec_interpreter" or "node_args" or "interpreter_args" or "interpreterArgs")
                Note(key, $"{key} is not mapped: another spelling of it is used");
            else if (key is "username" or "windowsHide") { /* set by PM2 itself / Windows only */ }
            else Note(key, $"{key} is not mapped: not a PM2 option");
        }
    }

    /// <summary>Whether a value of an unmapped option is what NodeKeeper does anyway (nothing to say).</summary>
    private static bool Default(string key, JsonElement v) => key switch
    {
        "treekill" or "autostart" or "disable_trace" or "disable_source_map_support" => v.ValueKind == JsonValueKind.True,
        "instance_var" => v.ValueKind == JsonValueKind.String && v.GetString() == "NODE_APP_INSTANCE",
        "namespace" => v.ValueKind == JsonValueKind.String && v.GetString() == "default",
        "cron_restart" or "cron" => v.ValueKind == JsonValueKind.Number && v.GetRawText() == "0" || v.ValueKind == JsonValueKind.String && v.GetString() is "0" or "",
        "post_update" => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0,
        _ => v.ValueKind == JsonValueKind.False,
    };

    // ---- helpers ----

    private bool Take(string key, out JsonElement value)
    {
        _done.Add(key);
        if (_props.TryGetValue(key, out value) && value.ValueKind != JsonValueKind.Null) return true;
        value = default;
        return false;
    }

    /// <summary>The first of several spellings that is present (all of them count as used).</summary>
    private (string? Key, JsonElement Value) First(string[] keys)
    {
        foreach (var key in keys)
        {
            if (_props.TryGetValue(key, out var v) && v.ValueKind != JsonValueKind.Null)
            {
                _done.Add(key);
                return (key, v);
            }
        }
        return (null, default);
    }

    /// <summary>The first spelling that is present, as a non-empty string; another kind of value is an error of the app.</summary>
    private (string? Key, string? Value) FirstString(string[] keys)
    {
        var (key, v) = First(keys);
        if (key is null) return (null, null);
        if (v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0 && !v.GetString()!.Contains('\0')) return (key, v.GetString());
        Invalid(key, v, "a non-empty string");
        return (null, null);
    }

    /// <summary>A string (split like a command line when <paramref name="splitString"/>) or an array of strings, numbers or booleans.</summary>
    private List<string>? StringList(string key, bool splitString)
    {
        if (!Take(key, out var v)) return null;
        List<string>? items = null;
        if (v.ValueKind == JsonValueKind.String) items = splitString ? EcosystemImporter.SplitArgs(v.GetString()!) : [v.GetString()!];
        else if (v.ValueKind == JsonValueKind.Array)
        {
            items = [];
            foreach (var item in v.EnumerateArray())
            {
                string? text = item.ValueKind switch
                {
                    JsonValueKind.String => item.GetString(),
                    JsonValueKind.Number => item.GetRawText(),
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    _ => null,
                };
                if (text is null)
                {
                    items = null;
                    break;
                }
                items.Add(text);
            }
        }
        if (items is null || items.Any(i => i.Contains('\0')))
        {
            Invalid(key, v, "a string or an array of strings");
            return null;
        }
        if (items.Any(i => i.Length == 0))
        {
            Note(key, $"{key}: its empty strings are left out: NodeKeeper takes no empty arguments");
            items.RemoveAll(i => i.Length == 0);
        }
        return items;
    }

    /// <summary>
    /// PM2's milliseconds (a number, or digits), or a string with a unit ("5s", "2m", "1h"). With
    /// <paramref name="positiveOr"/> (the key's default) NodeKeeper needs more than 0, and a 0 is left to that default.
    /// </summary>
    private TimeSpan? TakeDuration(string key, TimeSpan? positiveOr = null)
    {
        if (!Take(key, out var v)) return null;
        TimeSpan? value = null;
        if (Whole(v, out var ms) && ms >= 0) value = TimeSpan.FromMilliseconds(ms);
        else if (v.ValueKind == JsonValueKind.String && Duration.TryParse(v.GetString()!, out var d, out _)) value = d;
        if (value is null || value < TimeSpan.Zero)
        {
            Invalid(key, v, "a number of milliseconds");
            return null;
        }
        if (positiveOr is { } fallback && value == TimeSpan.Zero)
        {
            Note(key, $"{key} = 0 is not mapped: NodeKeeper needs more than 0 (the default, {Duration.Format(fallback)}, is used)");
            return null;
        }
        return value;
    }

    /// <summary>A whole number, as a JSON number or a string of digits (with a sign).</summary>
    private static bool Whole(JsonElement v, out long n)
    {
        n = 0;
        if (v.ValueKind == JsonValueKind.Number)
        {
            if (v.TryGetInt64(out n)) return true;
            if (v.TryGetDouble(out var d) && d == Math.Floor(d) && Math.Abs(d) < 1e15)
            {
                n = (long)d;
                return true;
            }
            return false;
        }
        return v.ValueKind == JsonValueKind.String
            && long.TryParse(v.GetString()!.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out n);
    }

    private void Invalid(string key, JsonElement v, string expected)
    {
        var shown = v.ValueKind == JsonValueKind.String ? TomlText.String(v.GetString()!) : v.GetRawText();
        if (shown.Length > 60) shown = shown[..57] + "...";
        Note(key, $"{key} is not mapped: {EcosystemImporter.OneLine(shown)} is not {expected}");
    }

    private void Note(string key, string text) =>
        _notes.Add((_order.TryGetValue(key, out var i) ? i : key == "name" ? -1 : int.MaxValue, $"{_label}: {text}"));

    /// <summary>Hands the app's notes over, in the order its keys were written.</summary>
    private void Flush()
    {
        notes.AddRange(_notes.OrderBy(n => n.Order).Select(n => n.Text));
        _notes.Clear();
    }

    private void Line(string key, string value) => _lines.Add($"{key} = {value}");

    private static string S(string s) => TomlText.String(s);

    private static string D(TimeSpan t) => S(Duration.Format(t));

    private string Home(string path) =>
        options.HomeDirectory is { } home && (path == "~" || path.StartsWith("~/", StringComparison.Ordinal)) ? home + path[1..] : path;
}
