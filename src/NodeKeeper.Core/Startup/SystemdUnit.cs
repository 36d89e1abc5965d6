using System.Text;

namespace NodeKeeper.Core.Startup;

/// <summary>What the unit of `nk startup` needs from the machine.</summary>
public sealed record SystemdUnitOptions
{
    /// <summary>How to run nk: its executable, or under `dotnet nk.dll` the dotnet host and the dll (absolute paths).</summary>
    public required IReadOnlyList<string> Nk { get; init; }
    /// <summary>NODEKEEPER_HOME (absolute).</summary>
    public required string Home { get; init; }
    /// <summary>A unit of the user's own manager (systemctl --user): no User=/Group=, WantedBy=default.target.</summary>
    public bool UserUnit { get; init; }
    /// <summary>User= and Group= of a system unit (the current user's); ignored for a user unit.</summary>
    public string? User { get; init; }
    public string? Group { get; init; }
    /// <summary>PATH for the daemon, so that apps find `node` as they do in the shell that ran nk startup (nvm, /usr/local).</summary>
    public string? SearchPath { get; init; }
}

/// <summary>`nk startup`: a systemd unit that runs `nk daemon` at boot. Pure: the text depends only on its inputs.</summary>
public static class SystemdUnit
{
    public const string FileName = "nodekeeper.service";
    public const string SystemUnitPath = "/etc/systemd/system/" + FileName;
    public const int TimeoutStopSeconds = 60;
    public const int OpenFiles = 1048576;

    /// <summary>Where --install writes a user unit: $XDG_CONFIG_HOME/systemd/user, else ~/.config/systemd/user.</summary>
    public static string UserUnitPath(string home, string? xdgConfigHome) =>
        Path.Combine(string.IsNullOrEmpty(xdgConfigHome) ? Path.Combine(home, ".config") : xdgConfigHome, "systemd", "user", FileName);

    /// <summary>What to run once the unit is in place.</summary>
    public static IReadOnlyList<string> EnableCommands(bool userUnit) => userUnit
        ? ["systemctl --user daemon-reload", "systemctl --user enable --now nodekeeper"]
        : ["systemctl daemon-reload", "systemctl enable --now nodekeeper"];

    /// <summary>
    /// Why these values cannot go into a unit file, in one line; null when they can. A unit is read line by line: a
    /// newline in NODEKEEPER_HOME or PATH (both come from the environment of whoever runs nk startup) would add lines
    /// of its own — an ExecStartPre= run as root at boot — and no quoting of systemd's escapes that.
    /// </summary>
    public static string? Check(SystemdUnitOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var values = new List<(string What, string? Value)> { ("NODEKEEPER_HOME", o.Home), ("PATH", o.SearchPath), ("the user", o.User), ("the group", o.Group) };
        values.AddRange(o.Nk.Select(n => ("the path of nk", (string?)n)));
        foreach (var (what, value) in values)
        {
            if (value is null || !value.Any(char.IsControl)) continue;
            var c = value.First(char.IsControl);
            return $"{what} contains a control character (U+{(int)c:X4}) at position {value.IndexOf(c) + 1}: it cannot go into a unit file (each line of which systemd reads as a setting)";
        }
        return null;
    }

    public static string Generate(SystemdUnitOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (Check(o) is { } problem) throw new ArgumentException(problem, nameof(o));
        if (o.Nk.Count == 0 || o.Nk.Any(a => !Path.IsPathFullyQualified(a)))
            throw new ArgumentException("Nk must be absolute paths", nameof(o));
        if (!Path.IsPathFullyQualified(o.Home)) throw new ArgumentException("Home must be an absolute path", nameof(o));

        string Nk(string args) => string.Join(' ', o.Nk.Select(Quote)) + " " + args;
        var b = new StringBuilder();
        void L(string line = "") => b.Append(line).Append('\n');

        L($"# NodeKeeper: `nk daemon` at boot for NODEKEEPER_HOME={o.Home} (written by `nk startup`).");
        L("# Type=notify: the daemon tells systemd it is ready (sd_notify READY=1). Stopping: systemd sends SIGTERM to the");
        L("# daemon alone (KillMode=mixed), which stops every app gracefully (each app's kill_signal and kill_timeout) and");
        L($"# exits; only what would still be left after it, or after TimeoutStopSec={TimeoutStopSeconds}, gets SIGKILL. (With");
        L("# KillMode=control-group every app would get SIGTERM from systemd too, behind the daemon's back; with");
        L("# KillMode=process a daemon killed at the timeout would leave its apps running.)");
        L("[Unit]");
        L($"Description=NodeKeeper: nk daemon for {Specifiers(o.Home)}");
        if (!o.UserUnit)
        {
            // A user manager has no network-online.target.
            L("After=network-online.target");
            L("Wants=network-online.target");
        }
        L();
        L("[Service]");
        L("Type=notify");
        L("NotifyAccess=main");
        if (!o.UserUnit && o.User is { } user)
        {
            // Also makes systemd set HOME, USER and LOGNAME, which apps expect.
            L($"User={Specifiers(user)}");
            if (o.Group is { } group) L($"Group={Specifiers(group)}");
        }
        L($"Environment={QuoteAssignment("NODEKEEPER_HOME=" + o.Home)}");
        if (!string.IsNullOrEmpty(o.SearchPath)) L($"Environment={QuoteAssignment("PATH=" + o.SearchPath)}");
        L($"WorkingDirectory={Specifiers(o.Home)}");
        L($"ExecStart={Nk("daemon")}");
        L("# Brings back the apps of `nk save` (dump.json) once the daemon is ready. \"-\": no dump does not fail the unit;");
        L("# --no-wait: a slow app does not hold up the start (systemd would give up on it after TimeoutStartSec).");
        L($"ExecStartPost=-{Nk("resurrect --no-wait")}");
        L($"ExecReload={Nk("reload all")}");
        L("KillMode=mixed");
        L($"TimeoutStopSec={TimeoutStopSeconds}");
        L("Restart=always");
        L("RestartSec=2");
        if (o.UserUnit) L("# LimitNOFILE: a user manager cannot raise its own hard limit; apps get max_open_files up to it.");
        else L($"LimitNOFILE={OpenFiles}");
        L();
        L("[Install]");
        L($"WantedBy={(o.UserUnit ? "default.target" : "multi-user.target")}");
        return b.ToString();
    }

    /// <summary>systemd expands %-specifiers in most values: a literal % is %%.</summary>
    public static string Specifiers(string value) => value.Replace("%", "%%");

    /// <summary>One word of a command line (ExecStart=): quoted when it has blanks or quotes; $ and % doubled.</summary>
    public static string Quote(string word)
    {
        var s = Specifiers(word).Replace("$", "$$");
        if (s.Length > 0 && !s.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'' or '\\' or ';')) return s;
        return "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
    }

    /// <summary>An Environment= assignment, quoted when it has blanks or quotes; % doubled.</summary>
    public static string QuoteAssignment(string assignment)
    {
        var s = Specifiers(assignment);
        if (!s.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'' or '\\')) return s;
        return "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
    }
}
