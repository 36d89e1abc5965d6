using System.Text.Json;
using System.Text.Json.Serialization;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// A control connection handed on: its fd, the bytes the old image had read from it but not yet handled (a request it
/// had not started, or the start of one), and, for a request that was waiting for instances to settle, its answer so
/// far and when the wait ends.
/// </summary>
public sealed record HandedConnection(int Fd, byte[] Unread, Response? Waiting = null, DateTimeOffset? WaitUntil = null, int? WaitMs = null);

/// <summary>An app as handed on: its definition, config file, whether it is wanted, its shared listening socket, its instances.</summary>
public sealed record HandedApp(AppSpec Spec, string? ConfigPath, bool Wanted, string? WatchProblem, int? ListenerFd,
    IReadOnlyList<HandedInstance> Instances);

/// <summary>
/// What one daemon image writes for the next before `nk update` execs it (NODEKEEPER_HOME/handover.json, 0600): every
/// fd it keeps open for it and everything needed to go on supervising without touching an app. <see cref="Format"/>
/// says how to read the rest: a daemon reads the formats in <see cref="Readable"/> and refuses any other before it is
/// exec'd (the old image asks it first), so a newer format never reaches an older binary.
/// </summary>
public sealed record HandoverRecord
{
    public const int CurrentFormat = 1;
    /// <summary>The formats this build adopts from: its own and every earlier release's.</summary>
    public static readonly IReadOnlyList<int> Readable = [1];

    public int Format { get; init; } = CurrentFormat;
    public string FromVersion { get; init; } = "";
    public DateTimeOffset WrittenAt { get; init; }
    public int DaemonPid { get; init; }
    public bool Background { get; init; }
    public int LockFd { get; init; }
    public int ControlFd { get; init; }
    /// <summary>The listening socket of the HTTP endpoint ([daemon] http, NK_HTTP), when it serves one.</summary>
    public int? HttpFd { get; init; }
    /// <summary>The `nk update` request's connection: the new image answers it.</summary>
    public HandedConnection? Requester { get; init; }
    public int RequestId { get; init; }
    public IReadOnlyList<HandedConnection> Connections { get; init; } = [];
    public DaemonSpec? Daemon { get; init; }
    public IReadOnlyList<HandedApp> Apps { get; init; } = [];

    /// <summary>Every fd the record hands on (the new image keeps these open and closes any other it inherited).</summary>
    public IEnumerable<int> Fds()
    {
        yield return LockFd;
        yield return ControlFd;
        if (HttpFd is { } http) yield return http;
        if (Requester is { } r) yield return r.Fd;
        foreach (var c in Connections) yield return c.Fd;
        foreach (var a in Apps)
        {
            if (a.ListenerFd is { } l) yield return l;
            foreach (var i in a.Instances)
                if (i.Process is { } p)
                    foreach (var parked in new[] { p.Out, p.Err, p.Ipc })
                        if (parked is not null) yield return parked.Fd;
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UseStringEnumConverter = true)]
[JsonSerializable(typeof(HandoverRecord))]
[JsonSerializable(typeof(FormatOnly))]
internal sealed partial class HandoverJson : JsonSerializerContext;

internal sealed record FormatOnly(int Format);

/// <summary>Writes and reads the hand-over record.</summary>
public static class HandoverFile
{
    /// <summary>Writes the record, readable by the daemon's user alone.</summary>
    public static void Write(string path, HandoverRecord record)
    {
        File.Delete(path);
        using var f = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        JsonSerializer.Serialize(f, record, HandoverJson.Default.HandoverRecord);
    }

    /// <summary>
    /// The record, or why it cannot be adopted from: missing, a link, another user's, a format this build does not read,
    /// or not the JSON it should be.
    /// </summary>
    public static (HandoverRecord? Record, string? Error) Read(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) return (null, $"{path} does not exist");
            if (info.LinkTarget is not null || !Uids.OwnedBySelf(path)) return (null, $"{path} is a link or belongs to another user");
            var bytes = File.ReadAllBytes(path);
            var format = JsonSerializer.Deserialize(bytes, HandoverJson.Default.FormatOnly)?.Format ?? 0;
            if (!HandoverRecord.Readable.Contains(format))
                return (null, $"{path} has hand-over format {format}; this nk reads {string.Join(", ", HandoverRecord.Readable)}");
            var record = JsonSerializer.Deserialize(bytes, HandoverJson.Default.HandoverRecord);
            return record is null ? (null, $"{path} is empty") : (record, null);
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return (null, $"{path} cannot be read: {ex.Message}");
        }
    }
}
