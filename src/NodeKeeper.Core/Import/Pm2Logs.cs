using System.Text.Json;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>The log options: out and error files (each under several spellings), time and log_date_format, merge and combined logs.</summary>
internal static class Pm2Logs
{
    private static readonly string[] OutKeys = ["out_file", "out", "output", "out_log"];
    private static readonly string[] ErrKeys = ["error_file", "error", "err", "err_file", "err_log"];

    /// <summary>The items of the app's log table, and notes.</summary>
    public static Mapping Map(Pm2App app, string cwd)
    {
        var m = new Mapping(app);
        LogFile(app, m, "out", OutKeys, cwd);
        LogFile(app, m, "err", ErrKeys, cwd);
        bool timestamps = false;
        if (m.Take("time", out var time) && time.ValueKind == JsonValueKind.True) timestamps = true;
        if (m.Take("log_date_format", out var format) && format.ValueKind == JsonValueKind.String && format.GetString()!.Length > 0)
        {
            timestamps = true;
            m.Note("log_date_format", $"log_date_format is written as log.timestamps = true: NodeKeeper prefixes ISO-8601 UTC times, {TomlText.String(format.GetString()!)} is not kept");
        }
        if (timestamps) m.Log.Add("timestamps = true");
        if (m.Take("log_type", out var type))
        {
            if (type.ValueKind == JsonValueKind.String && type.GetString() == "json") m.Log.Add($"format = {Mapping.S(LogFormat.Json.Word())}");
            else if (!(type.ValueKind == JsonValueKind.String && type.GetString() is "raw" or "")) m.Invalid("log_type", type, "\"json\" or \"raw\"");
        }
        foreach (var key in new[] { "merge_logs", "combine_logs" })
        {
            if (m.Take(key, out var merge) && merge.ValueKind == JsonValueKind.False)
                m.Note(key, $"{key} = false is not mapped: NodeKeeper writes every instance of an app into the same files, each line prefixed with [i]");
        }
        foreach (var key in new[] { "log_file", "log" })
        {
            if (m.Take(key, out var combined) && combined.ValueKind is not JsonValueKind.False)
                m.Note(key, $"{key} is not mapped: NodeKeeper writes stdout and stderr to separate files (log.out, log.err), not to a combined one");
        }
        return m;
    }

    private static void LogFile(Pm2App app, Mapping m, string stream, string[] keys, string cwd)
    {
        var (key, v) = m.First(keys);
        if (key is null) return;
        foreach (var other in keys.Where(k => k != key && app.Has(k)))
        {
            m.Used.Add(other);
            m.Note(other, $"{other} is not mapped: {key} is used");
        }
        if (v.ValueKind != JsonValueKind.String || v.GetString()!.Length == 0 || v.GetString()!.Contains('\0'))
        {
            m.Invalid(key, v, "a file");
            return;
        }
        var path = v.GetString()!;
        if (path is "/dev/null" or "NULL")
            m.Note(key, $"{key} {TomlText.String(path)} is not mapped: NodeKeeper always keeps logs, so the default log file is used (rotated at {Size.Format(AppDefaults.LogMaxSize)}, {AppDefaults.LogKeep} kept)");
        else m.Log.Add($"{stream} = {Mapping.S(ConfigPaths.Resolve(cwd, app.Home(path)))}");
    }
}
