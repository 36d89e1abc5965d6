using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Daemon.Captures;

/// <summary>One capture in an app's folder: its files (a stall has its stacks and its profile), newest first in lists.</summary>
/// <param name="Instance">The instance, or -1 for a report Node wrote that the daemon has not claimed yet.</param>
public sealed record CaptureFiles(string Kind, int Instance, int Pid, DateTimeOffset At, IReadOnlyList<string> Files, long Bytes)
{
    /// <summary>The file that says what the capture is (the stacks of a stall, the profile, the snapshot, the report).</summary>
    public string Main => Files[0];
}

/// <summary>
/// The folders of captured evidence: $NODEKEEPER_HOME/captures/APP (0700), written by the app's preload (profiles,
/// snapshots), by Node (diagnostic reports) and by the daemon (heap comparisons). Names say what each file is:
/// KIND-INSTANCE-PID-EPOCHMS.EXT, and Node's report.DATE.TIME.PID.0.SEQ.json until the daemon claims it. Files in the
/// making are hidden (.NAME.partial) and renamed when whole. Each app keeps at most capture.keep captures and
/// capture.max_size bytes: <see cref="Enforce"/> removes the oldest first.
/// </summary>
public sealed class CaptureStore(string home)
{
    private static readonly Regex Named = new(@"^(stall|cpu|heap|growth|report)-(\d{1,4})-(\d{1,9})-(\d{1,15})\.(json|cpuprofile|heapsnapshot)$", RegexOptions.CultureInvariant);
    private static readonly Regex NodeReport = new(@"^report\.(\d{8})\.(\d{6})\.(\d{1,9})\.\d+\.\d+\.json$", RegexOptions.CultureInvariant);
    /// <summary>A file in the making older than this was left by a process that died while writing it.</summary>
    private static readonly TimeSpan StalePartial = TimeSpan.FromMinutes(10);
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public string Root => Path.Combine(home, "captures");

    public string FolderOf(string app) => Path.Combine(Root, app);

    /// <summary>Creates the app's folder (and captures/) private to the daemon's user; returns it.</summary>
    public string Prepare(string app)
    {
        Directory.CreateDirectory(Root, Private);
        var folder = FolderOf(app);
        Directory.CreateDirectory(folder, Private);
        return folder;
    }

    /// <summary>The file name of a capture the daemon writes itself.</summary>
    public static string NameOf(string kind, int instance, int pid, DateTimeOffset at, string extension) =>
        string.Create(CultureInfo.InvariantCulture, $"{kind}-{instance}-{pid}-{at.ToUnixTimeMilliseconds()}.{extension}");

    /// <summary>The app's captures, newest first; none when it has no folder.</summary>
    public IReadOnlyList<CaptureFiles> List(string app)
    {
        var folder = FolderOf(app);
        if (!Directory.Exists(folder)) return [];
        var groups = new Dictionary<(string, int, int, long), List<FileInfo>>();
        try
        {
            foreach (var file in new DirectoryInfo(folder).EnumerateFiles())
            {
                if (file.LinkTarget is not null) continue;
                if (Parse(file.Name) is not { } key) continue;
                if (!groups.TryGetValue(key, out var list)) groups[key] = list = [];
                list.Add(file);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return []; }
        return groups
            .Select(g => new CaptureFiles(g.Key.Item1, g.Key.Item2, g.Key.Item3, DateTimeOffset.FromUnixTimeMilliseconds(g.Key.Item4),
                [.. g.Value.OrderBy(f => f.Extension == ".json" ? 0 : 1).Select(f => f.FullName)], g.Value.Sum(f => f.Length)))
            .OrderByDescending(c => c.At).ThenByDescending(c => c.Pid).ToList();
    }

    /// <summary>(kind, instance, pid, epoch ms) from a capture's file name; null for any other name.</summary>
    public static (string Kind, int Instance, int Pid, long Ms)? Parse(string name)
    {
        if (Named.Match(name) is { Success: true } m)
            return (m.Groups[1].Value, int.Parse(m.Groups[2].ValueSpan, CultureInfo.InvariantCulture), int.Parse(m.Groups[3].ValueSpan, CultureInfo.InvariantCulture),
                long.Parse(m.Groups[4].ValueSpan, CultureInfo.InvariantCulture));
        if (NodeReport.Match(name) is { Success: true } r
            && DateTime.TryParseExact(r.Groups[1].Value + r.Groups[2].Value, "yyyyMMddHHmmss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var local))
            return ("report", -1, int.Parse(r.Groups[3].ValueSpan, CultureInfo.InvariantCulture), new DateTimeOffset(local).ToUnixTimeMilliseconds());
        return null;
    }

    /// <summary>
    /// The diagnostic report Node wrote for the process <paramref name="pid"/>, renamed to say its instance, its
    /// environment's values taken out (<see cref="Redact"/>); null when there is none.
    /// </summary>
    public string? ClaimReport(string app, int instance, int pid, DateTimeOffset exitAt)
    {
        var folder = FolderOf(app);
        try
        {
            if (!Directory.Exists(folder)) return null;
            var found = new DirectoryInfo(folder).EnumerateFiles("report.*.json")
                .Where(f => f.LinkTarget is null && Parse(f.Name) is { Kind: "report", Instance: -1 } p && p.Pid == pid)
                .OrderByDescending(f => f.Name, StringComparer.Ordinal).FirstOrDefault();
            if (found is null) return null;
            var target = Path.Combine(folder, NameOf("report", instance, pid, exitAt, "json"));
            var partial = Path.Combine(folder, $".{Path.GetFileName(target)}.partial");
            // A report that cannot be read cannot be cleaned of its secrets either: it goes.
            if (!Redact(found.FullName, partial)) { found.Delete(); return null; }
            File.Move(partial, target, overwrite: true);
            found.Delete();
            return target;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>The most of a report read: Node's are tens of KB.</summary>
    private const long MaxReportBytes = 16 << 20;

    /// <summary>
    /// Copies a diagnostic report without the values of its environment variables (Node writes the process's whole
    /// environment into it: secrets stay with the app, the names are kept). False when it is not a report (it stays).
    /// </summary>
    private static bool Redact(string from, string to)
    {
        if (new FileInfo(from).Length > MaxReportBytes) return false;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(from)); }
        catch (JsonException) { return false; }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return false;
            using var file = new FileStream(to, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.None);
            File.SetUnixFileMode(to, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            using var w = new Utf8JsonWriter(file);
            Copy(doc.RootElement, w);
        }
        return true;
    }

    /// <summary>Writes <paramref name="e"/> with every environmentVariables object's values hidden (the report of each
    /// worker thread, under "workers", has one too).</summary>
    private static void Copy(JsonElement e, Utf8JsonWriter w)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                w.WriteStartObject();
                foreach (var p in e.EnumerateObject())
                {
                    w.WritePropertyName(p.Name);
                    if (p.Name == "environmentVariables" && p.Value.ValueKind == JsonValueKind.Object)
                    {
                        w.WriteStartObject();
                        foreach (var v in p.Value.EnumerateObject()) w.WriteString(v.Name, "(hidden by NodeKeeper)");
                        w.WriteEndObject();
                    }
                    else Copy(p.Value, w);
                }
                w.WriteEndObject();
                break;
            case JsonValueKind.Array:
                w.WriteStartArray();
                foreach (var item in e.EnumerateArray()) Copy(item, w);
                w.WriteEndArray();
                break;
            default:
                e.WriteTo(w);
                break;
        }
    }

    /// <summary>
    /// Keeps the app's newest captures within its caps (count and bytes; a capture alone bigger than the byte cap goes
    /// too), and removes files in the making left by processes that died. Returns the files removed.
    /// </summary>
    public IReadOnlyList<string> Enforce(string app, CaptureSpec spec)
    {
        var removed = new List<string>();
        var kept = 0;
        long bytes = 0;
        foreach (var c in List(app))
        {
            if (kept < spec.Keep && bytes + c.Bytes <= spec.MaxSize)
            {
                kept++;
                bytes += c.Bytes;
                continue;
            }
            foreach (var f in c.Files)
            {
                try { File.Delete(f); removed.Add(f); }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
            }
        }
        try
        {
            var folder = FolderOf(app);
            if (Directory.Exists(folder))
                foreach (var partial in new DirectoryInfo(folder).EnumerateFiles(".*.partial"))
                    if (DateTime.UtcNow - partial.LastWriteTimeUtc > StalePartial) { partial.Delete(); removed.Add(partial.FullName); }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        return removed;
    }

    /// <summary>
    /// Whether the disk of the app's folder has room for <paramref name="bytes"/> more and still keeps a twentieth of
    /// itself free (a capture must never be what fills it).
    /// </summary>
    public bool HasRoom(string app, long bytes)
    {
        try
        {
            var drive = new DriveInfo(Prepare(app));
            return drive.AvailableFreeSpace - bytes > drive.TotalSize / 20;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException) { return false; }
    }
}
