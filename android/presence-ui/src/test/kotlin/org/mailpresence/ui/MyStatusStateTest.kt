// The My status screen over the real core: activity, place, plans, errors.
package org.mailpresence.ui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test
import org.mailpresence.protocol.ActivityToken

class MyStatusStateTest {
    @Test fun `my status - activity, place and plans through the core, kept while offline`() {
        val state = MyStatusState(offlineClient(), Lang.JA)
        assertEquals("在席", state.ui.activity)
        assertEquals("位置情報なし", state.ui.location)
        assertEquals("最終送信: —", state.ui.lastPublish)
        runBlocking { state.setActivity(ActivityToken.ON_SITE, "設備点検中") }
        assertEquals("現場作業中（設備点検中）", state.ui.activity)
        assertEquals("最終送信: たった今", state.ui.lastPublish)
        assertEquals("送信待ち 1件", state.ui.pending)
        assertNull(state.ui.error)
        runBlocking { state.locationFix(35.0394, 135.7292, 8.0) }
        assertEquals("京都府京都市北区", state.ui.location)
        runBlocking { state.addPlan("15:00 帰社予定") }
        assertEquals(listOf("15:00 帰社予定"), state.ui.plans)
        assertEquals("送信待ち 3件", state.ui.pending)
    }

    @Test fun `an empty status is refused with a message, not a crash`() {
        val state = MyStatusState(offlineClient(), Lang.EN)
        runBlocking { state.setActivity(null, "   ") }
        assertEquals("Please check what you entered.", state.ui.error)
        assertNull(state.ui.pending)
    }
}
