"""Registration service: the unit register and the yearly registration (đăng ký phấn đấu)."""
