using System.Text;
using System.Text.Json;
using NodeKeeper.Daemon;

namespace NodeKeeper.IntegrationTests;

/// <summary>The pooled buffer the control server writes its answers into (pure logic, no process).</summary>
public sealed class PooledWriterTests
{
    [Fact]
    public void What_is_written_survives_every_growth_and_a_clear_starts_over()
    {
        using var buffer = new PooledWriter(initial: 16);
        var expected = new StringBuilder();
        for (var i = 0; i < 5000; i++)
        {
            var piece = Encoding.UTF8.GetBytes($"{i},");
            piece.CopyTo(buffer.GetSpan(piece.Length));
            buffer.Advance(piece.Length);
            expected.Append($"{i},");
        }
        Encoding.UTF8.GetString(buffer.Written.Span).Should().Be(expected.ToString());

        buffer.Clear();
        buffer.Written.Length.Should().Be(0);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            json.WriteStringValue("a");
            json.WriteStringValue(new string('b', 300_000));
            json.WriteEndArray();
        }
        Encoding.UTF8.GetString(buffer.Written.Span).Should().Be($"[\"a\",\"{new string('b', 300_000)}\"]", "past the pool's sizes too");
    }
}
