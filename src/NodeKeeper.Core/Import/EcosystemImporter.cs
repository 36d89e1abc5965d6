using System.Text;
using System.Text.Json;
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
    /// <summary>Where a command is on PATH here (PM2's <c>which</c>), or null.</summary>
    public Func<string, string?> Which { get; init; } = _ => null;
    /// <summary>Whether a file without an extension is a binary, which PM2 runs as the program itself (its <c>isBinary</c>).</summary>
    public Func<string, bool> IsBinary { get; init; } = _ => false;
    /// <summary>The variables the file read from the environment it was evaluated in, with their values: a TOML value
    /// that holds one is marked as coming from it.</summary>
    public IReadOnlyDictionary<string, string> FromEnvironment { get; init; } = new Dictionary<string, string>();
    /// <summary>The texts the file asked the machine for, by the call that gave each ("os.homedir()" → "/home/deploy"): a
    /// TOML value that holds one is marked as coming from it.</summary>
    public IReadOnlyDictionary<string, string> FromMachine { get; init; } = new Dictionary<string, string>();
    /// <summary>The CPU counts the file asked the machine for (os.cpus().length, os.availableParallelism()).</summary>
    public IReadOnlyList<int> CpuCountsRead { get; init; } = [];
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
public static class EcosystemImporter
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
            var app = AppImport.Map(apps[i], i, options, names);
            if (app.Name is { } name) names.Add(name);
            notes.AddRange(app.Notes);
            if (app.Error is { } error) errors.Add(error);
            if (app.Block is { } block) blocks.Add(block);
        }
        if (errors.Count > 0) return new ImportResult(null, notes, errors);
        if (blocks.Count == 0)
        {
            errors.Add("it defines no apps");
            return new ImportResult(null, notes, errors);
        }

        var sb = new StringBuilder();
        var source = Path.Combine(options.EcosystemDirectory, options.EcosystemFile);
        sb.Append("# Imported by nk import from ").Append(Pm2App.OneLine(source));
        if (options.EnvName is { } env) sb.Append(" with --env ").Append(Pm2App.OneLine(env));
        sb.Append(".\n");
        sb.Append("# Paths are absolute, so this file works wherever it is saved: relative ones are resolved from the ecosystem\n");
        sb.Append("# file's folder, as when pm2 start runs there (PM2 resolves them from the folder it is run in); the file was\n");
        sb.Append("# evaluated there too, so process.cwd() and __dirname in it were that folder.\n");
        sb.Append("# PM2's meanings are kept: kill_signal is SIGINT unless the file said otherwise, an app not ready within\n");
        sb.Append("# listen_timeout counts online (not_ready), restart_delay is fixed_restart_delay, and node apps get\n");
        sb.Append("# source-mapped stack traces (--enable-source-maps) unless disable_source_map_support.\n");
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
                errors.Add($"apps must be an array of apps, got {Pm2App.Kind(apps.Value)}");
                return null;
            default:
                errors.Add($"it exports {Pm2App.Kind(root)}, not {{ apps: [ ... ] }}");
                return null;
        }
    }

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
}
