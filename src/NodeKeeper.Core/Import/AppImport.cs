using System.Globalization;
using System.Text;
using System.Text.Json;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>One app object of an ecosystem file made into one [[app]] block, from the mappings of its groups of options.</summary>
internal static class AppImport
{
    /// <param name="Name">The name the app took (kept from the others' even when the app is left out), or null.</param>
    /// <param name="Block">The [[app]] block, or null when the app is left out or has an error.</param>
    /// <param name="Notes">What was not carried over, in the order the app's options are written.</param>
    /// <param name="Error">Why the app (and so the import) fails, or null.</param>
    public sealed record Outcome(string? Name, string? Block, IReadOnlyList<string> Notes, string? Error);

    public static Outcome Map(JsonElement json, int index, ImportOptions options, IReadOnlySet<string> taken)
    {
        var number = $"app {(index + 1).ToString(CultureInfo.InvariantCulture)}";
        if (json.ValueKind != JsonValueKind.Object)
            return new Outcome(null, null, [], $"{number} must be an object with a script, got {Pm2App.Kind(json)}");

        var app = new Pm2App(json, options);
        var script = Pm2Process.ReadScript(app);
        var name = Pm2Name.Map(app, script.Value, taken);
        var label = name.Name is { } n ? $"app {TomlText.String(n)}" : number;
        if (name.Error is { } error) return new Outcome(null, null, Notes(app, label, [script.Mapping]), $"{number}: {error}");
        if (script.Value is null) return new Outcome(name.Name, null, Notes(app, label, [script.Mapping, name.Mapping]), $"{label} has no script: PM2 needs one too");

        var process = Pm2Process.Map(app, script.Key!, script.Value);
        var instances = Pm2Cluster.MapInstances(app, process.NodeInterpreter);
        var env = Pm2Env.Map(app, process.Python);
        var ports = Pm2Cluster.MapPorts(app, env.Env, instances);
        List<Mapping> groups =
        [
            script.Mapping, name.Mapping, process.Mapping, instances.Mapping, env.Mapping, ports.Mapping,
            Pm2Restarts.Map(app, ports.HasPort), Pm2Watch.Map(app, process.Cwd), Pm2Process.User(app), Pm2Env.EnvFile(app, process.Cwd),
            Pm2Logs.Map(app, process.Cwd),
        ];
        groups.Add(Pm2Unsupported.Map(app, groups.SelectMany(g => g.Used).ToHashSet(StringComparer.Ordinal)));
        return new Outcome(name.Name, Block(name.Name!, groups, ports.Env, env.Profiles, options), Notes(app, label, groups), null);
    }

    /// <summary>The groups' notes, labelled with the app, in the order of the options they are about.</summary>
    private static List<string> Notes(Pm2App app, string label, IEnumerable<Mapping> groups) =>
        groups.SelectMany(g => g.Notes).OrderBy(n => app.Position(n.Key)).Select(n => $"{label}: {n.Text}").ToList();

    private static string Block(string name, IReadOnlyList<Mapping> groups, IReadOnlyList<KeyValuePair<string, string>> env,
        IReadOnlyList<(string Name, IReadOnlyList<KeyValuePair<string, string>> Env)> profiles, ImportOptions options)
    {
        var sb = new StringBuilder("[[app]]\n");
        sb.Append(Provenance($"name = {TomlText.String(name)}", options)).Append('\n');
        foreach (var line in groups.SelectMany(g => g.Lines)) sb.Append(Provenance(line, options)).Append('\n');
        var log = groups.SelectMany(g => g.Log).ToList();
        if (log.Count > 0) sb.Append(Provenance($"log = {{ {string.Join(", ", log)} }}", options)).Append('\n');
        Table(sb, "env", env, always: false, options);
        foreach (var (profile, block) in profiles) Table(sb, "env_" + profile, block, always: true, options);
        return sb.ToString();
    }

    /// <summary>An [app.KEY] table of variables (an empty one only when <paramref name="always"/>: a profile that sets nothing).</summary>
    private static void Table(StringBuilder sb, string key, IReadOnlyList<KeyValuePair<string, string>> env, bool always, ImportOptions options)
    {
        if (env.Count == 0 && !always) return;
        sb.Append("\n[app.").Append(key).Append("]\n");
        foreach (var (k, v) in env) sb.Append(Provenance($"{TomlText.Key(k)} = {TomlText.String(v)}", options)).Append('\n');
    }

    /// <summary>
    /// A "key = value" line, with a comment when its value came from where the file was evaluated rather than from the
    /// file: a variable of the environment it read (its value, whole or inside a string), a text the machine gave it
    /// (os.homedir(), os.hostname()...), or the machine's CPU count as instances. Such a value was frozen at import;
    /// the comment says from where, so it can be made a setting again.
    /// </summary>
    internal static string Provenance(string line, ImportOptions options)
    {
        var at = line.IndexOf(" = ", StringComparison.Ordinal);
        if (at < 0) return line;
        var (key, value) = (line[..at], line[(at + 3)..]);
        var from = new List<string>();
        var sources = options.FromEnvironment.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => ("$" + kv.Key, kv.Value))
            .Concat(options.FromMachine.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value)));
        foreach (var (source, text) in sources)
        {
            if (text.Length == 0) continue;
            var inToml = TomlText.String(text)[1..^1];
            // A short value ("1", "on") counts only as the whole value: inside a longer one it would be chance.
            if (value == text || value == $"\"{inToml}\"" || (text.Length >= 4 && value.Contains(inToml, StringComparison.Ordinal)))
                from.Add(source);
        }
        if (key == "instances" && options.CpuCountsRead.Any(n => value == n.ToString(CultureInfo.InvariantCulture)))
            from.Add("this machine's CPU count");
        return from.Count == 0 ? line : $"{line}  # from {string.Join(" and ", from)} when imported";
    }
}
