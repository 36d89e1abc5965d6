using System.Globalization;
using System.Text.Json;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>env, env_NAME (with --env NAME), PM2's port option, and env_file as a dotenv file.</summary>
internal static class Pm2Env
{
    /// <param name="Profiles">The other env_NAME blocks, written as env_NAME tables for nk start --env NAME.</param>
    public sealed record Result(Mapping Mapping, IReadOnlyList<KeyValuePair<string, string>> Env,
        IReadOnlyList<(string Name, IReadOnlyList<KeyValuePair<string, string>> Env)> Profiles);

    /// <summary>env, with env_NAME merged over it (--env NAME) and PM2's port option as PORT; for a Python app
    /// (<paramref name="python"/>) PYTHONUNBUFFERED=1 first, as PM2 sets it (its lines reach the log as they are printed).</summary>
    public static Result Map(Pm2App app, bool python = false)
    {
        var m = new Mapping(app);
        var env = new OrderedDictionary<string, string>(StringComparer.Ordinal);
        if (python) env["PYTHONUNBUFFERED"] = "1";
        if (m.Take("env", out var v)) Merge(m, env, "env", v);
        if (app.Options.EnvName is { } name)
        {
            var key = "env_" + name;
            if (m.Take(key, out var block)) Merge(m, env, key, block);
            else m.Note("env", $"--env {name}: it has no {key}, so env is used as it is");
        }
        if (m.Take("port", out var port))
        {
            if (Pm2App.Whole(port, out var p)) env["PORT"] = p.ToString(CultureInfo.InvariantCulture);
            else m.Invalid("port", port, "a port number");
        }
        // Every other env_NAME object is a profile of its own (an env_file string is the dotenv file).
        var profiles = new List<(string, IReadOnlyList<KeyValuePair<string, string>>)>();
        foreach (var (key, value) in app.All.ToList())
        {
            if (EnvProfiles.NameOf(key) is not { } profile || profile == app.Options.EnvName || value.ValueKind != JsonValueKind.Object) continue;
            m.Take(key, out _);
            var block = new OrderedDictionary<string, string>(StringComparer.Ordinal);
            Merge(m, block, key, value);
            profiles.Add((profile, block.ToList()));
        }
        return new Result(m, env.ToList(), profiles);
    }

    private static void Merge(Mapping m, OrderedDictionary<string, string> env, string key, JsonElement block)
    {
        if (block.ValueKind != JsonValueKind.Object)
        {
            m.Invalid(key, block, "an object of variables");
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
                m.Note(key, $"{key}.{TomlText.String(p.Name)} is not mapped: not a valid variable name");
            else if (value.Contains('\0'))
                m.Note(key, $"{key}.{p.Name} is not mapped: its value holds a NUL character");
            else env[p.Name] = value;
        }
    }

    /// <summary>
    /// A string env_file, the dotenv file. PM2 reads env_file as the env block of --env file, which
    /// <see cref="Map"/> merges then; an object there is another env block.
    /// </summary>
    public static Mapping EnvFile(Pm2App app, string cwd)
    {
        var m = new Mapping(app);
        if (app.Options.EnvName != "file" && app.TryGet("env_file", out var v) && v.ValueKind == JsonValueKind.String)
        {
            m.Used.Add("env_file");
            if (v.GetString()!.Length == 0 || v.GetString()!.Contains('\0')) m.Invalid("env_file", v, "a file");
            else m.Line("env_file", Mapping.S(ConfigPaths.Resolve(cwd, app.Home(v.GetString()!))));
        }
        return m;
    }
}
