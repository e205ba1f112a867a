"""Vietnamese labels of the console, and refusals in plain Vietnamese."""

from __future__ import annotations

from typing import Any

STATE = {
    "registered": "Chờ tự đánh giá",
    "self_scored": "Chờ thẩm định",
    "commune_reviewed": "Đã thẩm định (xã)",
    "district_reviewed": "Đã thẩm định (huyện)",
    "province_reviewed": "Đã thẩm định (tỉnh)",
    "ministry_reviewed": "Đã thẩm định (Bộ)",
    "recognized": "Đã công nhận",
    "not_recognized": "Không công nhận",
    "returned": "Trả lại bổ sung",
    "withdrawn": "Đã rút đăng ký",
    "revoked": "Đã thu hồi",
}
#: the exemplary title's states (điển hình, kiểu mẫu về ANTT và phong trào toàn dân bảo vệ ANTQ)
EXEMPLARY_STATE = {
    "proposed": "Đã đề nghị, chờ tự đánh giá điển hình",
    "self_scored": "Chờ thẩm định điển hình",
    "commune_reviewed": "Đã thẩm định điển hình (xã)",
    "district_reviewed": "Đã thẩm định điển hình (huyện)",
    "province_reviewed": "Đã thẩm định điển hình (tỉnh)",
    "ministry_reviewed": "Đã thẩm định điển hình (Bộ)",
    "recognized": "Đã công nhận điển hình",
    "not_recognized": "Không công nhận điển hình",
    "returned": "Trả lại bổ sung (điển hình)",
    "revoked": "Đã thu hồi danh hiệu điển hình",
    "lapsed": "Đề nghị hết hiệu lực (không còn công nhận ANTT)",
    # the assessment service's ExemplaryCaseClosed outcomes
    "closed": "Đã kết thúc",
}
#: phân loại phong trào "Toàn dân bảo vệ an ninh Tổ quốc"
MOVEMENT = {"xuat_sac": "Xuất sắc", "kha": "Khá", "trung_binh": "Trung bình", "yeu": "Yếu"}
LEVEL = {"commune": "Cấp xã", "district": "Cấp huyện", "province": "Cấp tỉnh", "ministry": "Cấp Bộ"}
KIND = {
    "residential_area": "Khu dân cư",
    "commune": "Xã, phường, thị trấn",
    "agency": "Cơ quan",
    "enterprise": "Doanh nghiệp",
    "school": "Cơ sở giáo dục",
}
ROLE = {"appraise": "Thẩm định", "decide": "Công nhận", "follow": "Theo dõi", "supervise": "Phụ trách (phân công)"}
STEP_ROLE = {"review": "Thẩm định", "decide": "Công nhận"}
RESULT = {"met": "Đạt", "not_met": "Chưa đạt", "needs_review": "Cần thẩm định"}
VERDICT = {"met": "Đạt", "not_met": "Chưa đạt"}
DECISION = {"pass": "Đạt / công nhận", "return": "Trả lại bổ sung", "reject": "Không công nhận", "revoke": "Thu hồi"}
DOCUMENT = {
    "party_resolution": "Nghị quyết của cấp ủy",
    "security_plan": "Kế hoạch bảo đảm ANTT",
    "registration_form": "Bản đăng ký phấn đấu",
    "results_report": "Báo cáo kết quả",
    "meeting_minutes": "Biên bản họp đánh giá",
    "submission": "Tờ trình",
    "people_committee_plan": "Kế hoạch của UBND",
    "movement_model": "Mô hình phong trào",
}
EVENT = {
    "UnitYearRegistered": "Đăng ký phấn đấu",
    "UnitYearWithdrawn": "Rút đăng ký",
    "AssessmentOpened": "Mở hồ sơ tự đánh giá",
    "SelfAssessmentRecorded": "Nộp kết quả tự đánh giá",
    "AssessmentReopened": "Mở lại để bổ sung",
    "AssessmentClosed": "Đóng hồ sơ tự đánh giá",
    "IncidentRecorded": "Ghi nhận vụ việc",
    "ApprovalCaseOpened": "Mở hồ sơ xét duyệt",
    "UnitYearSelfScored": "Chuyển thẩm định",
    "UnitYearReviewed": "Thẩm định đạt",
    "UnitYearRecognized": "Công nhận",
    "UnitYearNotRecognized": "Không công nhận",
    "UnitYearReturned": "Trả lại để bổ sung",
    "ApprovalCaseWithdrawn": "Kết thúc do rút đăng ký",
    "UnitYearRevoked": "Thu hồi công nhận",
    "IncidentFlagged": "Cảnh báo vụ việc sau công nhận",
    "VerdictChanged": "Thay đổi kết quả đánh giá",
    "CaseClaimed": "Nhận xử lý",
    "CaseReleased": "Trả lại quyền xử lý",
    "CaseReassigned": "Phân công lại",
    # the exemplary track (điển hình)
    "MovementClassificationRecorded": "Phân loại phong trào",
    "ExemplaryCaseOpened": "Đề nghị công nhận điển hình",
    "ExemplarySelfAssessmentRecorded": "Nộp kết quả tự đánh giá điển hình",
    "ExemplaryEvaluationRevised": "Đánh giá lại tiêu chí điển hình",
    "ExemplaryCaseReopened": "Mở lại hồ sơ điển hình để bổ sung",
    "ExemplaryCaseClosed": "Đóng hồ sơ điển hình",
    "ExemplaryTitleCaseOpened": "Mở hồ sơ xét điển hình",
    "ExemplaryTitleSelfScored": "Chuyển thẩm định điển hình",
    "ExemplaryTitleReviewed": "Thẩm định điển hình đạt",
    "ExemplaryTitleRecognized": "Công nhận điển hình",
    "ExemplaryTitleNotRecognized": "Không công nhận điển hình",
    "ExemplaryTitleReturned": "Trả lại hồ sơ điển hình để bổ sung",
    "ExemplaryTitleVerdictChanged": "Thay đổi kết quả đánh giá điển hình",
    "ExemplaryTitleRevoked": "Thu hồi danh hiệu điển hình",
    "ExemplaryTitleLapsed": "Đề nghị điển hình hết hiệu lực",
    "ExemplaryTitleClaimed": "Nhận xử lý (điển hình)",
    "ExemplaryTitleReleased": "Trả lại quyền xử lý (điển hình)",
    "ExemplaryTitleReassigned": "Phân công lại (điển hình)",
}
SCORE_STATUS = {
    "scored": "Đã chấm",
    "no_evidence": "Chưa có minh chứng",
}
PRODUCER = {"registration": "Đăng ký", "assessment": "Đánh giá", "approval": "Xét duyệt"}
INCIDENT_EFFECT = {
    "fails_criterion": "Không đạt tiêu chí",
    "conditional_pass": "Đạt có điều kiện",
    "force_majeure": "Bất khả kháng",
    "below_severity": "Dưới mức nghiêm trọng",
    "no_criterion_for_kind": "Không áp dụng cho loại đơn vị",
    "pending_registration": "Chờ đăng ký",
    "out_of_jurisdiction": "Ngoài phạm vi",
}

#: the leading sentence of a refusal, by error code
REFUSAL = {
    "wrong_level": "Hồ sơ đang chờ quyết định ở cấp khác, không thuộc cấp của đồng chí.",
    "wrong_role": "Bước đang chờ không thuộc nhiệm vụ của đồng chí.",
    "criteria_not_met": "Chưa đủ điều kiện để thông qua.",
    "children_pending": "Còn đơn vị do xã quản lý chưa được quyết định; chỉ xét công nhận xã sau khi các đơn vị này được quyết định (hoặc đã quá hạn của chúng).",
    "out_of_jurisdiction": "Đơn vị này không thuộc phạm vi quản lý của đồng chí.",
    "illegal_transition": "Hồ sơ không còn ở trạng thái chờ quyết định.",
    "invalid_payload": "Thiếu thông tin bắt buộc.",
    "claimed_by_other": "Hồ sơ đang do cán bộ khác xử lý.",
    "not_claimed": "Hồ sơ chưa có ai nhận xử lý.",
    "forbidden": "Đồng chí không có quyền thực hiện thao tác này.",
    "conflict": "Hồ sơ vừa được thay đổi bởi người khác; chưa có gì được ghi. Hãy tải lại trang rồi thực hiện lại.",
    "not_found": "Không tìm thấy hồ sơ.",
    "unknown_unit_year": "Không tìm thấy hồ sơ.",
    "version_mismatch": "Hồ sơ vừa được thay đổi bởi người khác; chưa có gì được ghi. Hãy tải lại trang rồi thực hiện lại.",
    "step_not_current": "Bước này đã được quyết định hoặc không còn chờ; chưa có gì được ghi. Hãy tải lại trang.",
    "no_exemplary_title": "Đơn vị chưa được đề nghị công nhận điển hình.",
}


def refusal(code: str, reason: str, context: dict[str, Any] | None = None) -> str:
    """A refusal in plain Vietnamese: the leading sentence of its code, and what to do."""
    ctx = context or {}
    head = REFUSAL.get(code, "Không thực hiện được thao tác.")
    more = ""
    if code == "claimed_by_other" and ctx.get("holder"):
        h = ctx["holder"]
        more = f" Người đang xử lý: {h['name']}. Cần người đó trả lại, hoặc lãnh đạo phụ trách phân công lại."
    elif code == "criteria_not_met":
        case = ctx.get("case")
        rollup = ctx.get("rollup")
        if ctx.get("exemplary") and case is not None:
            more = (
                f" Kết quả tự đánh giá điển hình là chưa đạt (tiêu chí chưa đạt: {', '.join(case.unmet) or 'không rõ'})."
                " Hãy trả lại để bổ sung hoặc quyết định không công nhận điển hình."
            )
        elif case is not None and case.verdict != "met":
            more = (
                f" Kết quả tự đánh giá là chưa đạt (tiêu chí chưa đạt: {', '.join(case.unmet) or 'không rõ'})."
                " Hãy trả lại để bổ sung hoặc quyết định không công nhận."
            )
        elif rollup:
            more = (
                f" Tiêu chí 4 của xã: đã đăng ký {rollup['registered']}/{rollup['children_total']} đơn vị"
                f" ({rollup['registered_pct']}%, yêu cầu 100%), được công nhận {rollup['recognized']}/{rollup['children_total']}"
                f" ({rollup['recognized_pct']}%, yêu cầu tối thiểu 70%)."
            )
    elif code == "children_pending" and ctx.get("rollup"):
        pend = ctx["rollup"]["pending"]
        more = f" Chưa quyết định: {', '.join(pend[:10])}{' …' if len(pend) > 10 else ''}."
    elif code == "invalid_payload":
        if "return decision must give reasons" in reason:
            more = " Quyết định trả lại phải ghi rõ nội dung cần bổ sung."
        elif "reject decision must give reasons" in reason:
            more = " Quyết định không công nhận phải ghi rõ lý do."
        elif "revocation must give" in reason:
            more = " Quyết định thu hồi phải ghi rõ lý do."
    elif code == "wrong_level" and ctx.get("case") is not None:
        c = ctx["case"]
        more = f" Hồ sơ đang chờ {LEVEL.get(c.pending_level or '', c.pending_level)}."
    elif code in ("illegal_transition", "version_mismatch", "step_not_current") and ctx.get("case") is not None:
        states = EXEMPLARY_STATE if ctx.get("exemplary") else STATE
        more = f" Trạng thái hiện tại: {states.get(str(ctx['case'].state), ctx['case'].state)}."
    return head + more


def state(s: Any) -> str:
    return STATE.get(str(s), str(s))


def exemplary_state(s: Any) -> str:
    return EXEMPLARY_STATE.get(str(s), str(s))
