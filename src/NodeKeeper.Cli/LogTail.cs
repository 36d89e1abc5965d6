using System.Text;

namespace NodeKeeper.Cli;

/// <summary>`nk logs`: the last lines of log files, and following them across rotation.</summary>
public static class LogTail
{
    /// <summary>The last n lines of a file (reads backwards, so huge logs cost nothing).</summary>
    public static List<string> LastLines(string path, int n)
    {
        if (n <= 0 || !File.Exists(path)) return [];
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var chunk = new byte[64 * 1024];
        var collected = new List<byte>();
        var pos = fs.Length;
        var newlines = 0;
        while (pos > 0 && newlines <= n)
        {
            var size = (int)Math.Min(chunk.Length, pos);
            pos -= size;
            fs.Position = pos;
            fs.ReadExactly(chunk, 0, size);
            for (var i = size - 1; i >= 0; i--) if (chunk[i] == '\n') newlines++;
            collected.InsertRange(0, chunk.Take(size));
        }
        var text = Encoding.UTF8.GetString(collected.ToArray());
        var lines = text.Split('\n').ToList();
        if (lines.Count > 0 && lines[^1] == "") lines.RemoveAt(lines.Count - 1);
        return lines.Skip(Math.Max(0, lines.Count - n)).ToList();
    }

    /// <summary>Prints what is appended to the files until cancelled; reopens a file that was rotated.</summary>
    public static async Task FollowAsync(IReadOnlyList<(string Label, string Path)> files, TextWriter output, CancellationToken ct)
    {
        var state = files.Select(f => (f.Label, f.Path, Offset: File.Exists(f.Path) ? new FileInfo(f.Path).Length : 0L, Inode: Inode(f.Path))).ToArray();
        var buffer = new byte[64 * 1024];
        var partial = new Dictionary<string, string>();
        while (!ct.IsCancellationRequested)
        {
            for (var i = 0; i < state.Length; i++)
            {
                var (label, path, offset, inode) = state[i];
                if (!File.Exists(path)) continue;
                var nowInode = Inode(path);
                var length = new FileInfo(path).Length;
                if (nowInode != inode || length < offset) { offset = 0; inode = nowInode; }
                if (length > offset)
                {
                    using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                    fs.Position = offset;
                    int n;
                    var sb = new StringBuilder(partial.GetValueOrDefault(path, ""));
                    while ((n = await fs.ReadAsync(buffer, ct)) > 0) { sb.Append(Encoding.UTF8.GetString(buffer, 0, n)); offset += n; }
                    var text = sb.ToString();
                    var cut = text.LastIndexOf('\n');
                    partial[path] = cut < 0 ? text : text[(cut + 1)..];
                    if (cut >= 0)
                        foreach (var line in text[..cut].Split('\n'))
                            await output.WriteLineAsync(label + line);
                    await output.FlushAsync(ct);
                }
                state[i] = (label, path, offset, inode);
            }
            try { await Task.Delay(200, ct); } catch (OperationCanceledException) { break; }
        }
    }

    private static string Inode(string path)
    {
        try { return File.Exists(path) ? $"{new FileInfo(path).CreationTimeUtc.Ticks}" : ""; }
        catch (IOException) { return ""; }
    }
}
