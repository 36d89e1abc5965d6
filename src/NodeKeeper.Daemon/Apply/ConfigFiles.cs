using NodeKeeper.Core.Config;
using NodeKeeper.Core.Files;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Processes;

namespace NodeKeeper.Daemon.Apply;

/// <summary>
/// Reading a config file and its env files, the one way: `nk start` and `nk run` read it in the CLI, `nk reload` in
/// the daemon. Bounded, regular files only (a FIFO, /dev/stdin or /dev/zero would block or exhaust the reader), env
/// files without following a link another user could have planted (SafeFiles), every error as file:line:col.
/// </summary>
public static class ConfigFiles
{
    /// <summary>
    /// A config's apps go to the daemon in one request line, which it refuses past this; a config file larger than that
    /// could only fit if it were mostly comments. nk run keeps the same limit, so a config that runs in a container
    /// also starts with nk start.
    /// </summary>
    public const long MaxConfigBytes = Request.MaxLineBytes;

    /// <summary>The config, or the lines that say what is wrong (printed as they are, one per line).</summary>
    public sealed record Loaded(NodeKeeperConfig? Config, IReadOnlyList<string> Errors);

    /// <summary>Reads and validates a config; the app's default logs go under <paramref name="logsFolder"/>.</summary>
    public static Loaded Load(string path, string logsFolder)
    {
        var (bytes, error, size) = ReadSmallRegularFile(path, MaxConfigBytes);
        // Refused before it is read: parsing and checking an 8 MB config of 2 million array items cost 9.5 s and
        // 1.25 GB, only for the daemon to refuse the request line it made.
        if (size > MaxConfigBytes)
            return new(null, [$"{path}: config is {size} bytes; the limit is {MaxConfigBytes} (the largest request the daemon accepts)"]);
        if (bytes is null) return new(null, [$"nk: {path}: cannot read the config: {error}"]);
        var full = Path.GetFullPath(path);
        var ctx = new LoadContext(logsFolder, Environment.ProcessorCount, ReadEnvFile);
        var result = ConfigLoader.LoadUtf8(bytes, path, Path.GetDirectoryName(full)!, ctx);
        return result.Ok ? new(result.Config! with { Path = full }, []) : new(null, [.. result.ErrorLines()]);
    }

    /// <summary>An env_file's text; the IOException says why it cannot be read, and the loader says so at its line.</summary>
    private static string ReadEnvFile(string p) => SafeFiles.ReadAllText(p, DotEnv.MaxFileBytes);

    /// <summary>
    /// Reads a config or env file, which must be a regular file of at most <paramref name="maxBytes"/>. A larger file is
    /// not read; Size is the size of the file opened (0 when none was). The error is in plain words (nk is built without
    /// .NET's message resources).
    /// </summary>
    public static (byte[]? Bytes, string? Error, long Size) ReadSmallRegularFile(string path, long maxBytes)
    {
        if (Directory.Exists(path)) return (null, "it is a folder, not a file", 0);
        if (!File.Exists(path)) return (null, "no such file", 0);
        if (!Native.IsRegularFile(path)) return (null, "not a regular file (a pipe, socket or device)", 0);
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
