// Rows and ages as the Colleagues list shows them, from presence the real core made.
package org.mailpresence.ui

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.mailpresence.PresenceException
import org.mailpresence.presenceView

class PresenceFormatTest {
    @Test fun `a colleague's presence from the core becomes the row the list shows`() {
        val p = yamadaInAMeeting("ja")
        val now = p.updatedUnix!! + 300
        assertEquals("会議中（部長会議） · 13:00-15:00 部長会議 · 5分前", PresenceFormat.row(p, now, Lang.JA))
        assertEquals("in a meeting (部長会議) · 13:00-15:00 部長会議 · 5 min ago", PresenceFormat.row(p, now, Lang.EN))
        assertEquals("会議中（部長会議） · 13:00-15:00 部長会議", p.summary)
    }

    @Test fun `ages read naturally in both languages`() {
        assertEquals("たった今", PresenceFormat.age(1000, 1030, Lang.JA))
        assertEquals("2 h ago", PresenceFormat.age(0, 7200, Lang.EN))
        assertEquals("yesterday", PresenceFormat.age(0, 86_400 + 5, Lang.EN))
        assertEquals("時刻不明", PresenceFormat.age(null, 0, Lang.JA))
    }

    @Test fun `a name the core refuses is an error in words`() {
        val e = try { presenceView("田中 太郎", "tanaka@example.test", null, "外出中", null, listOf(), null, "ja"); null } catch (e: PresenceException) { e }
        assertTrue("got $e", e is PresenceException.InvalidInput)
        assertEquals("入力内容を確認してください。", ErrorText.of(e!!, Lang.JA))
    }
}
