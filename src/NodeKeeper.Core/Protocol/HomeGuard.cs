namespace NodeKeeper.Core.Protocol;

/// <summary>
/// NODEKEEPER_HOME belongs to the daemon's user alone. A home that is a symbolic link, or a directory of another user,
/// is refused (never used, not even tightened). A home of one's own that exists with looser modes is made 0700, and its
/// logs/ writable by nobody else; each change is reported so the daemon can say so in daemon.log.
/// </summary>
public static class HomeGuard
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Permissions = Private | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
    private const UnixFileMode OthersWrite = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    /// <summary>Why this home must not be used, in one line; null when it may (a home that does not exist yet may).</summary>
    public static string? Refusal(string home) => NotOurs(home) ?? Planted(home);

    /// <summary>Why this home is not a directory of this user's own: a link, a file, another user's.</summary>
    private static string? NotOurs(string home)
    {
        var info = new DirectoryInfo(home);
        if (info.LinkTarget is { } target)
            return $"NODEKEEPER_HOME {home} is a symbolic link (to {target}): refusing to use it; set NODEKEEPER_HOME to a real directory of your own";
        if (File.Exists(home)) return $"NODEKEEPER_HOME {home} is not a directory: refusing to use it";
        if (!Directory.Exists(home)) return null;
        if (!Uids.OwnedBySelf(home))
            return $"NODEKEEPER_HOME {home} belongs to another user (not uid {Uids.Effective()}): refusing to use it; another user's home is never used";
        return null;
    }

    /// <summary>Why what others may have put into an open home (writable by them) must not be used; null when nothing.</summary>
    private static string? Planted(string home, UnixFileMode? modeBefore = null)
    {
        if (!Directory.Exists(home)) return null;
        // When others could write into the home, what is in it may be theirs: a link planted as daemon.log or logs/
        // would have the daemon write where they choose. Nothing but the user's own real files and folders is accepted.
        var mode = modeBefore ?? File.GetUnixFileMode(home);
        if ((mode & OthersWrite) == 0) return null;
        var logs = NkHome.Logs(home);
        List<string> suspects;
        try
        {
            suspects = Directory.EnumerateFileSystemEntries(home)
                .Concat(Directory.Exists(logs) && new DirectoryInfo(logs).LinkTarget is null ? Directory.EnumerateFileSystemEntries(logs) : [])
                .Where(p => new FileInfo(p).LinkTarget is not null || !Uids.OwnedBySelf(p))
                .ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"NODEKEEPER_HOME {home} is writable by others (mode {Octal(mode)}) and cannot be checked: {ex.Message}";
        }
        if (suspects.Count == 0) return null;
        return $"NODEKEEPER_HOME {home} is writable by others (mode {Octal(mode)}) and holds links or files of other users that may have been put there: "
            + $"{string.Join(", ", suspects.Take(5))}{(suspects.Count > 5 ? $" and {suspects.Count - 5} more" : "")}; remove them, then try again";
    }

    /// <summary>
    /// Creates the home (0700) and its logs/, or checks and tightens existing ones. Returns the refusal (one line) when
    /// the home must not be used, else the changes made (to be logged).
    /// </summary>
    public static (string? Refusal, List<string> Changes) Prepare(string home)
    {
        var changes = new List<string>();
        if (NotOurs(home) is { } before) return (before, changes);
        try { Directory.CreateDirectory(home, Private); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ($"cannot create NODEKEEPER_HOME {home}: {ex.Message}", changes);
        }
        // Again now that it exists: nothing may have been put in its place meanwhile.
        if (NotOurs(home) is { } after) return (after, changes);

        // Tightened first, checked after: once the home is 0700 nobody else can put anything into it, so what the check
        // finds is what stays. (Checked first, a link planted between the check and the chmod would have been used.)
        var mode = File.GetUnixFileMode(home);
        if ((mode & Permissions) != Private)
        {
            File.SetUnixFileMode(home, Private);
            changes.Add($"NODEKEEPER_HOME {home} had mode {Octal(mode)}: tightened to 0700");
        }
        if (Planted(home, mode) is { } planted) return (planted + " (the home is now 0700)", changes);
        var logs = NkHome.Logs(home);
        Directory.CreateDirectory(logs);
        var logsMode = File.GetUnixFileMode(logs);
        if ((logsMode & OthersWrite) != 0)
        {
            File.SetUnixFileMode(logs, logsMode & ~OthersWrite);
            changes.Add($"{logs} had mode {Octal(logsMode)}: tightened to {Octal(logsMode & ~OthersWrite)} (writable by nobody else)");
        }
        return (null, changes);
    }

    public static string Octal(UnixFileMode mode) => Convert.ToString((int)mode & 0xFFF, 8).PadLeft(4, '0');
}
