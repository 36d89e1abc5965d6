using System.Text.Json;

namespace NodeKeeper.Core.Captures;

/// <summary>
/// A V8 heap snapshot reduced to what DevTools' Summary view shows per class: how many nodes and how many bytes of
/// self size. Small enough to keep and compare, unlike the snapshot itself.
/// </summary>
/// <param name="Nodes">All nodes in the snapshot.</param>
/// <param name="TotalSelfSize">The sum of every node's self size, in bytes.</param>
/// <param name="Classes">By class name as DevTools names it: the constructor for objects, "(string)", "(closure)", ...</param>
public sealed record HeapSummary(long Nodes, long TotalSelfSize, IReadOnlyDictionary<string, HeapClass> Classes);

/// <summary>The nodes of one class in a heap snapshot: how many, and their summed self size in bytes.</summary>
public sealed record HeapClass(long Count, long SelfSize);

/// <summary>
/// Reads <c>.heapsnapshot</c> files (the JSON that <c>v8.writeHeapSnapshot</c> and DevTools write) into a
/// <see cref="HeapSummary"/>, and compares two summaries to find what grew. Reading streams the file through a
/// <see cref="Utf8JsonReader"/> over a refilled buffer, so memory grows with the number of classes, not the file
/// size: snapshots of a leaking app are hundreds of MB, and the supervisor must not become the next process to run out.
/// </summary>
public static class HeapSnapshotSummary
{
    internal const int DefaultBufferSize = 64 * 1024;

    /// <summary>The largest single JSON token accepted (V8 cuts the names it writes to about 1 KiB).</summary>
    internal const int MaxTokenSize = 64 * 1024 * 1024;

    /// <summary>Reads a heap snapshot from <paramref name="stream"/> and groups its nodes by class.</summary>
    /// <exception cref="InvalidDataException">The data is not a V8 heap snapshot, or it is truncated.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled.</exception>
    public static HeapSummary Read(Stream stream, CancellationToken ct = default) => Read(stream, DefaultBufferSize, ct);

    /// <summary>As <see cref="Read(Stream, CancellationToken)"/>, with the first buffer's size (tests use tiny ones).</summary>
    internal static HeapSummary Read(Stream stream, int initialBufferSize, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(initialBufferSize, 1);
        var parser = new HeapSnapshotParser();
        var buffer = new byte[initialBufferSize];
        var state = new JsonReaderState();
        int length = 0;      // bytes in buffer not yet consumed by the reader
        long position = 0;   // offset in the stream of buffer[0]
        bool final = false;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (length == buffer.Length)
            {
                // One token fills the whole buffer: grow it, within reason.
                if (buffer.Length >= MaxTokenSize)
                    throw new InvalidDataException(
                        $"not a V8 heap snapshot: a single JSON token at byte {position} is over {MaxTokenSize / (1024 * 1024)} MiB");
                Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, MaxTokenSize));
            }
            int read = stream.Read(buffer, length, buffer.Length - length);
            if (read == 0)
            {
                if (position == 0 && length == 0) throw new InvalidDataException("not a V8 heap snapshot: the file is empty");
                final = true;
            }
            length += read;

            var reader = new Utf8JsonReader(buffer.AsSpan(0, length), final, state);
            try
            {
                while (reader.Read()) parser.Token(ref reader);
            }
            catch (JsonException ex)
            {
                // A non-final pass stops before an incomplete token without throwing, so what is left for the final
                // pass is a valid prefix: an error there means the data ends too early.
                if (final)
                    throw new InvalidDataException(
                        $"heap snapshot is truncated: the data ends after {position + length} bytes, {parser.Section}");
                throw new InvalidDataException(
                    $"not a V8 heap snapshot: invalid JSON near byte {position + reader.BytesConsumed} ({parser.Section}): {OneLine(ex.Message)}");
            }
            if (final) break;
            int consumed = (int)reader.BytesConsumed;
            state = reader.CurrentState;
            Buffer.BlockCopy(buffer, consumed, buffer, 0, length - consumed);
            length -= consumed;
            position += consumed;
        }
        return parser.Finish();
    }

    /// <summary>
    /// The classes that grew from <paramref name="before"/> to <paramref name="after"/> (in count or in size): the
    /// constructors first (what the app's code made and keeps), then V8's own groups ("(array)", "(string)", …, which
    /// grow with them: the backing store of a kept array, the strings of kept objects); within each, the biggest size
    /// growth first, then the biggest count growth. Classes that shrank or stayed are left out.
    /// </summary>
    public static IReadOnlyList<HeapGrowth> Compare(HeapSummary before, HeapSummary after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var grown = new List<HeapGrowth>();
        foreach (var (name, now) in after.Classes)
        {
            var was = before.Classes.TryGetValue(name, out var b) ? b : new HeapClass(0, 0);
            var g = new HeapGrowth(name, was.Count, now.Count, was.SelfSize, now.SelfSize);
            if (g.CountDelta > 0 || g.SizeDelta > 0) grown.Add(g);
        }
        grown.Sort(static (x, y) =>
        {
            int c = IsGroup(x.Class).CompareTo(IsGroup(y.Class));
            if (c == 0) c = y.SizeDelta.CompareTo(x.SizeDelta);
            if (c == 0) c = y.CountDelta.CompareTo(x.CountDelta);
            return c != 0 ? c : string.CompareOrdinal(x.Class, y.Class);
        });
        return grown;
    }

    /// <summary>V8's own groups are named in parentheses; a constructor's name never starts with one.</summary>
    private static bool IsGroup(string name) => name.StartsWith('(');

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");
}
