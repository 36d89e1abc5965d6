using NodeKeeper.Core.Config;
using NodeKeeper.Core.Files;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Control;

namespace NodeKeeper.Cli;

/// <summary>Reading a config (and its env files) in the CLI: bounded, regular files only, every error as file:line:col.</summary>
public static partial class NkCommands
{
    /// <summary>Reads and validates a config; prints every error as file:line:col and returns null when there is one.</summary>
    internal static NodeKeeperConfig? LoadConfig(string path)
    {
        var (bytes, error, size) = ReadSmallRegularFile(path, MaxConfigBytes);
        if (size > MaxConfigBytes)
        {
            // Refused before it is read: parsing and checking an 8 MB config of 2 million array items cost 9.5 s and
            // 1.25 GB, only for the daemon to refuse the request line it made.
            Console.Error.WriteLine($"{path}: config is {size} bytes; the limit is {MaxConfigBytes} (the largest request the daemon accepts)");
            return null;
        }
        if (bytes is null)
        {
            Console.Error.WriteLine($"nk: {path}: cannot read the config: {error}");
            return null;
        }
        var full = Path.GetFullPath(path);
        var ctx = new LoadContext(NkHome.Logs(Home.Current), Environment.ProcessorCount, ReadEnvFile);
        var result = ConfigLoader.LoadUtf8(bytes, path, Path.GetDirectoryName(full)!, ctx);
        if (!result.Ok)
        {
            foreach (var line in result.ErrorLines()) Console.Error.WriteLine(line);
            return null;
        }
        return result.Config! with { Path = full };
    }

    /// <summary>An env_file's text, found without following a link another user could have planted (SafeFiles); the
    /// IOException says why it cannot be read, and the loader says so at its line.</summary>
    private static string ReadEnvFile(string p) => SafeFiles.ReadAllText(p, DotEnv.MaxFileBytes);

    /// <summary>
    /// A config's apps go to the daemon in one request line, which it refuses past 1 MiB; a config file larger than
    /// that could only fit if it were mostly comments. nk run keeps the same limit, so a config that runs in a
    /// container also starts with nk start.
    /// </summary>
    private const long MaxConfigBytes = ControlServer.MaxLine;

    /// <summary>
    /// Reads a config or env file, which must be a regular file of at most <paramref name="maxBytes"/>: a FIFO,
    /// /dev/stdin or /dev/zero would block nk or exhaust its memory. A larger file is not read; Size is the size of
    /// the file opened (0 when none was). The error is in plain words (nk is built without .NET's message resources).
    /// </summary>
    internal static (byte[]? Bytes, string? Error, long Size) ReadSmallRegularFile(string path, long maxBytes)
    {
        if (Directory.Exists(path)) return (null, "it is a folder, not a file", 0);
        if (!File.Exists(path)) return (null, "no such file", 0);
        if (!NodeKeeper.Daemon.Processes.Native.IsRegularFile(path)) return (null, "not a regular file (a pipe, socket or device)", 0);
        try
        {
            using var file = File.OpenRead(path);
            // The size of the file opened: through a symbolic link, FileInfo.Length is the link's own.
            long size = file.Length;
            if (size > maxBytes) return (null, $"it is {size} bytes; the limit is {maxBytes}", size);
            var bytes = new byte[size];
            file.ReadExactly(bytes);
            return (bytes, null, size);
        }
        catch (UnauthorizedAccessException) { return (null, "permission denied", 0); }
        catch (IOException) { return (null, "it cannot be read", 0); }
    }
}
