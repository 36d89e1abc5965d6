using System.Text.Json;
using System.Text.Json.Serialization;
using NodeKeeper.Core.Files;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Daemon.State;

/// <summary>A process the daemon started (or that one of its apps left behind), known by pid and /proc start time.</summary>
public sealed record SavedProcess(int Pid, long StartTime);

/// <summary>An instance as it ran: its main process and the rest of its tree that the daemon had seen.</summary>
public sealed record SavedInstance(int Index, SavedProcess? Process, IReadOnlyList<SavedProcess> Tree);

/// <summary>
/// An app as the daemon holds it: its definition without the values read from its env_file (they stay in that file
/// and are read again when the app comes back), its config file, whether it is meant to run, and its processes.
/// </summary>
public sealed record SavedApp(AppSpec Spec, string? ConfigPath, bool Running, IReadOnlyList<SavedInstance> Instances);

/// <summary>The apps of a daemon: the live state file (state.json) and `nk save`'s dump.json.</summary>
public sealed record SavedState(int Version, DateTimeOffset SavedAt, int DaemonPid, IReadOnlyList<SavedApp> Apps)
{
    public const int CurrentVersion = 1;

    /// <summary>
    /// The [daemon] table in effect, so that a daemon taking over or resurrecting serves as its predecessor did; null when
    /// none was (a daemon never given a config, or a file written before it was kept: still version 1, read as null).
    /// </summary>
    public DaemonSpec? Daemon { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UseStringEnumConverter = true, WriteIndented = true)]
[JsonSerializable(typeof(SavedState))]
internal sealed partial class StateJson : JsonSerializerContext;

/// <summary>
/// The live state file's form: the same names, on one line, and each app's definition written as the bytes it was
/// written as last time (<see cref="KeptSpecs"/>). state.json is rewritten 100 ms after every change, so a start of
/// 300 apps rewrote 300 unchanged definitions (600 KB) about 150 times: half of the daemon's CPU during that start.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UseStringEnumConverter = true,
    Converters = [typeof(KeptSpecs)])]
[JsonSerializable(typeof(SavedState))]
internal sealed partial class LiveStateJson : JsonSerializerContext;

/// <summary>A definition on its own, as <see cref="LiveStateJson"/> writes it (its options, no converter of its own).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UseStringEnumConverter = true)]
[JsonSerializable(typeof(AppSpec))]
internal sealed partial class SpecJson : JsonSerializerContext;

/// <summary>
/// Writes a definition from the bytes kept for that very object (definitions are immutable records: an app defined
/// again is a new object, written anew). Reads as the generated metadata does.
/// </summary>
internal sealed class KeptSpecs : JsonConverter<AppSpec>
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<AppSpec, byte[]> Kept = new();

    public override AppSpec? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        JsonSerializer.Deserialize(ref reader, SpecJson.Default.AppSpec);

    public override void Write(Utf8JsonWriter writer, AppSpec value, JsonSerializerOptions options) =>
        writer.WriteRawValue(Kept.GetValue(value, spec => JsonSerializer.SerializeToUtf8Bytes(spec, SpecJson.Default.AppSpec)), skipInputValidation: true);
}

public static class StateFile
{
    // One write at a time in this process: the state keeper and `nk update` both write state.json, through one
    // temporary name.
    private static readonly Lock Gate = new();

    /// <summary>Writes `nk save`'s dump atomically (a temporary file renamed over the old one), readable by the owner alone.</summary>
    public static void Write(string path, SavedState state)
    {
        lock (Gate) WriteAlone(path, state, StateJson.Default.SavedState);
    }

    /// <summary>Writes the live state file (state.json) as <see cref="Write"/> does, in its own form (<see cref="LiveStateJson"/>).</summary>
    public static void WriteLive(string path, SavedState state)
    {
        lock (Gate) WriteAlone(path, state, LiveStateJson.Default.SavedState);
    }

    /// <summary>
    /// Writes the live state file, then runs <paramref name="then"/> before any other write can begin: `nk update` execs
    /// there, so that no write of the old image is cut short by the exec (or renames an older capture over this one).
    /// </summary>
    public static T WriteLiveThen<T>(string path, SavedState state, Func<T> then)
    {
        lock (Gate)
        {
            WriteAlone(path, state, LiveStateJson.Default.SavedState);
            return then();
        }
    }

    private static void WriteAlone(string path, SavedState state, System.Text.Json.Serialization.Metadata.JsonTypeInfo<SavedState> form)
    {
        var tmp = $"{path}.{Environment.ProcessId}.tmp";
        using (var f = new FileStream(tmp, new FileStreamOptions
        {
            Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            JsonSerializer.Serialize(f, state, form);
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The saved state, or null with the reason when the file is missing or unreadable.</summary>
    public static (SavedState? State, string? Error) Read(string path)
    {
        if (!File.Exists(path)) return (null, $"{path} does not exist");
        try
        {
            var state = JsonSerializer.Deserialize(File.ReadAllBytes(path), StateJson.Default.SavedState);
            if (state is null) return (null, $"{path} is empty");
            if (state.Version != SavedState.CurrentVersion) return (null, $"{path} has version {state.Version}, this nk reads {SavedState.CurrentVersion}");
            return (state, null);
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return (null, $"{path} cannot be read: {ex.Message}");
        }
    }

    /// <summary>The definition as it is kept: env_file values are left out (they are secrets that live in their file).</summary>
    /// <remarks>The same object for the same definition: the live state file writes it from the bytes kept for it.</remarks>
    public static AppSpec Strip(AppSpec spec) => Stripped.GetValue(spec, s => s with { EnvFromFile = new Dictionary<string, string>() });

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<AppSpec, AppSpec> Stripped = new();

    /// <summary>The definition brought back: env_file values read again from their file; the error says what failed.</summary>
    public static (AppSpec? Spec, string? Error) Restore(AppSpec spec)
    {
        if (spec.EnvFile is not { } file) return (spec, null);
        try
        {
            // Found as the CLI found it: never through a link another user could have planted (SafeFiles).
            var values = DotEnv.Parse(SafeFiles.ReadAllText(file, DotEnv.MaxFileBytes), file, out var errors);
            if (errors.Count > 0) return (null, $"app {spec.Name}: {errors[0]}");
            return (spec with { EnvFromFile = values }, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, $"app {spec.Name}: cannot read env_file: {ex.Message}");
        }
    }
}
