// What the app gets from the core's edge: its log, its map credits, and
// passwords that never print.
package org.mailpresence.ui

import java.util.concurrent.CopyOnWriteArrayList
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.mailpresence.AccountConfig
import org.mailpresence.Granularity
import org.mailpresence.LogLevel
import org.mailpresence.LogRecord
import org.mailpresence.LogSink
import org.mailpresence.MailServer
import org.mailpresence.PresenceClient
import org.mailpresence.protocol.TlsMode
import org.mailpresence.setLogSink

class CoreEdgeTest {
    @Test fun `a warning the core writes arrives in the app's log sink`() {
        val records = CopyOnWriteArrayList<LogRecord>()
        setLogSink(object : LogSink {
            override fun log(record: LogRecord) { records.add(record) }
        }, LogLevel.WARN)
        PresenceClient(offlineForm().toConfig(Lang.JA), tempDir("mailpresence-log"), null).close()
        setLogSink(null, LogLevel.WARN)
        val warning = records.firstOrNull { it.message.contains("no map pack") }
        assertNotNull("no warning about the map pack among $records", warning)
        assertEquals(LogLevel.WARN, warning!!.level)
        assertTrue(warning.target, warning.target.startsWith("mailpresence_core"))
        assertTrue("below WARN: $records", records.none { it.level == LogLevel.INFO || it.level == LogLevel.DEBUG })
    }

    @Test fun `printing an account never shows its password`() {
        val server = MailServer("mail.example.co.jp", 993u, TlsMode.IMPLICIT, "tanaka", "s3cret-パス", null)
        val config = AccountConfig("tanaka", "tanaka@example.co.jp", "presence@example.co.jp", "ja", server, server, Granularity.CITY)
        for (shown in listOf(server.toString(), config.toString())) assertFalse(shown, shown.contains("s3cret"))
        assertTrue(server.toString(), server.toString().contains("tanaka"))
        assertEquals("s3cret-パス", server.password)
    }

    @Test fun `the About screen lists the map data sources`() {
        assertTrue(offlineClient().attributions().any { it.contains("GeoNames") && it.contains("CC BY 4.0") })
    }
}
