using System.Globalization;

namespace NodeKeeper.Daemon.Listeners;

/// <summary>Who listens on a TCP port, from /proc/net/tcp{,6} and the socket inodes in /proc/PID/fd.</summary>
public static class PortOwner
{
    /// <summary>" by pid N (name)" when /proc shows the listener, else "".</summary>
    public static string Describe(int port)
    {
        try
        {
            var inodes = ListeningInodes(port);
            if (inodes.Count == 0) return "";
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
                try
                {
                    foreach (var fd in Directory.EnumerateFileSystemEntries(Path.Combine(dir, "fd")))
                    {
                        var target = new FileInfo(fd).LinkTarget;
                        if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal)
                            && inodes.Contains(target[8..^1]))
                        {
                            var name = File.ReadAllText(Path.Combine(dir, "comm")).Trim();
                            return $" by pid {pid} ({name})";
                        }
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        return "";
    }

    private static HashSet<string> ListeningInodes(int port)
    {
        var result = new HashSet<string>();
        var hexPort = port.ToString("X4", CultureInfo.InvariantCulture);
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(table)) continue;
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // local_address is ADDR:PORT in hex; state 0A is LISTEN; inode is the 10th field.
                if (f.Length > 9 && f[1].EndsWith(":" + hexPort, StringComparison.Ordinal) && f[3] == "0A") result.Add(f[9]);
            }
        }
        return result;
    }
}
