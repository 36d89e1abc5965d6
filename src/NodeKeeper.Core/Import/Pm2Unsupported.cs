using System.Text.Json;
using System.Text.RegularExpressions;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>
/// The options no other group read: a PM2 option NodeKeeper has no equivalent of (with why, unless its value is what
/// NodeKeeper does anyway), another env_NAME block, another spelling of an option already used, or no PM2 option.
/// </summary>
internal static partial class Pm2Unsupported
{
    private const string Monitoring = "PM2.io monitoring; NodeKeeper has its own (nk monit, nk why, nk status --json)";

    /// <summary>PM2 options NodeKeeper has no equivalent of, and why.</summary>
    private static readonly Dictionary<string, string> Reasons = new(StringComparer.Ordinal)
    {
        ["vizion"] = "NodeKeeper keeps no version-control metadata",
        ["post_update"] = "NodeKeeper does not pull or update apps",
        ["namespace"] = "NodeKeeper has no namespaces; apps are addressed by name",
        ["treekill"] = "NodeKeeper always stops the whole process tree",
        ["instance_var"] = "NodeKeeper always sets NODE_APP_INSTANCE (and NK_INSTANCE)",
        ["filter_env"] = "NodeKeeper filters nothing out: apps get the daemon's environment plus env",
        ["gid"] = "NodeKeeper runs the app with the groups of user",
        ["pid_file"] = "NodeKeeper writes no pid files; nk status --json shows each instance's pid",
        ["pid"] = "NodeKeeper writes no pid files; nk status --json shows each instance's pid",
        ["disable_logs"] = $"NodeKeeper always keeps logs (rotated at log.max_size, {Size.Format(AppDefaults.LogMaxSize)} by default)",
        ["watch_delay"] = $"NodeKeeper restarts a watched app {AppDefaults.WatchQuiet.TotalMilliseconds:0} ms after the last change, and has no setting for it",
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
        ["execute_command"] = "PM2 7 does not use it either; give the command as script with interpreter = \"none\"",
        ["install_url"] = "NodeKeeper installs nothing",
    };

    /// <summary>A note for each option that is set and not in <paramref name="used"/>, in the order written.</summary>
    public static Mapping Map(Pm2App app, IReadOnlySet<string> used)
    {
        var m = new Mapping(app);
        foreach (var (key, value) in app.All)
        {
            if (used.Contains(key) || value.ValueKind == JsonValueKind.Null) continue;
            if (EnvBlockPattern().IsMatch(key))
            {
                m.Note(key, $"{key} is not mapped: {TomlText.String(key["env_".Length..])} is not a profile name NodeKeeper takes (letters, digits, _ and -, up to 64)");
            }
            else if (Reasons.TryGetValue(key, out var reason))
            {
                if (!Default(key, value)) m.Note(key, $"{key} is not mapped: {reason}");
            }
            else if (Pm2Process.Spellings.Contains(key))
                m.Note(key, $"{key} is not mapped: another spelling of it is used");
            else if (key is "username" or "windowsHide") { /* set by PM2 itself / Windows only */ }
            else m.Note(key, $"{key} is not mapped: not a PM2 option");
        }
        return m;
    }

    /// <summary>Whether a value of an unmapped option is what NodeKeeper does anyway (nothing to say).</summary>
    private static bool Default(string key, JsonElement v) => key switch
    {
        "treekill" or "autostart" or "disable_trace" => v.ValueKind == JsonValueKind.True,
        "instance_var" => v.ValueKind == JsonValueKind.String && v.GetString() == "NODE_APP_INSTANCE",
        "namespace" => v.ValueKind == JsonValueKind.String && v.GetString() == "default",
        "post_update" => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0,
        _ => v.ValueKind == JsonValueKind.False,
    };

    [GeneratedRegex("^env_\\S+$")]
    private static partial Regex EnvBlockPattern();
}
